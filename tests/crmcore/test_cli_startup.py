"""The ``crm`` command starts small: ``--help`` and the light commands import no heavy library and build no full
app, in a real process with every installed plugin (issue 15); they still work and still speak the reader's language."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

HEAVY = ("numpy", "scipy", "sklearn", "pandas", "lifetimes", "pypinyin", "phonenumbers", "schemathesis")
FULL_APP = ("flask_admin", "flask_smorest", "crmcore.admin", "crmcore.api")
CUSTOMER_MODELS = ("crmcore.models.customer", "crmcore.models.workflow", "crmcore.models.interaction")
# Runs `crm ARGS` in a fresh interpreter and reports, after it exits, which modules it had imported.
PROBE = ("import atexit, json, sys\n"
         "atexit.register(lambda: print('MODULES=' + json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
         "sys.argv = ['crm', *json.loads(sys.argv[1])]\n"
         "from crmcore.cli import main\n"
         "main()\n")


@pytest.fixture
def crm_process(app: Any, settings: dict[str, Any], tmp_path: Any) -> Any:
    """``crm_process(*args, **env)`` -> (exit code, stdout, stderr, imported modules), every entry-point plugin loaded."""
    def run(*args: str, **extra_env: str) -> tuple[int, str, str, set[str]]:
        env = {**os.environ, "CRM_DATABASE_URL": settings["DATABASE_URL"], "CRM_INSTANCE_PATH": str(tmp_path / "cli"),
               "CRM_PLUGINS_AUTOLOAD": "1", "CRM_SECRET_KEY": "test-secret", **extra_env}
        for key in ("CRM_PLUGINS_DISABLED", "CRM_PLUGINS_ALLOW", "CRM_PLUGINS", "CRM_CONFIG"):
            env.pop(key, None)
        done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=env, capture_output=True,
                              text=True, timeout=120)
        lines = done.stderr.splitlines()
        modules = next((set(json.loads(line[8:])) for line in lines if line.startswith("MODULES=")), None)
        assert modules is not None, done.stderr
        stderr = "\n".join(line for line in lines if not line.startswith("MODULES="))
        return done.returncode, done.stdout, stderr, modules

    return run


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in modules]


def test_help_imports_no_heavy_library_and_lists_plugin_commands(crm_process):
    code, out, err, modules = crm_process("--help")
    assert code == 0, err
    for command in ("init-db", "token", "jobs", "import", "serve", "plugins", "openapi",  # the core's
                    "sales", "analyze", "service", "sync"):  # the plugins', found without importing their code
        assert f"  {command} " in out, (command, out)
    assert _loaded(modules, HEAVY) == []
    assert _loaded(modules, FULL_APP) == []
    assert "crmcore.models" not in modules  # not even the ORM models


def test_light_commands_work_without_the_full_app(crm_process, make_user, rt):
    user, _headers = make_user("admin", username="ops")

    code, out, err, modules = crm_process("jobs", "list")
    assert code == 0, err
    for job in ("outbox.deliver", "analysis.nightly", "approvals.inbox", "service.sla_check", "erp.sync"):
        assert job in out, out
    assert _loaded(modules, HEAVY + FULL_APP) == []
    assert not any(m.startswith(("adapters.oa.delivery", "plugins.analysis.services")) for m in modules)

    assert "marshmallow" not in modules  # no schema is loaded to list
    assert _loaded(modules, CUSTOMER_MODELS) == []  # the jobs' tables are mapped, not the customers' and the rest

    code, out, err, modules = crm_process("token", "list", "ops")
    assert code == 0, err
    assert "active" in out and "default" in out
    assert _loaded(modules, HEAVY + FULL_APP) == []
    assert "marshmallow" not in modules  # the user profile's schema loads when a user is created or edited
    assert _loaded(modules, CUSTOMER_MODELS) == []

    code, out, err, modules = crm_process("plugins", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert {"core", "sales", "analysis", "service", "erp", "oa"} <= set(rows)
    assert rows["sales"]["version"] == "0.1.0" and rows["core"]["version"] is None  # read from the metadata when shown
    assert _loaded(modules, HEAVY + FULL_APP) == []


def test_light_commands_speak_the_default_language(crm_process):
    code, _out, err, _modules = crm_process("token", "list", "nobody", CRM_DEFAULT_LOCALE="zh_CN")
    assert code != 0
    assert "用户“nobody”不存在。" in err
    code, _out, err, _modules = crm_process("token", "list", "nobody", CRM_DEFAULT_LOCALE="en")
    assert code != 0 and "User 'nobody' does not exist." in err


def test_full_commands_still_get_the_full_app(crm_process):
    code, out, err, modules = crm_process("routes")  # Flask's own command: the whole app, every blueprint
    assert code == 0, err
    assert "/api/v1/customers" in out and "/api/v1/sales" in out
    assert "flask_admin" in modules
    assert _loaded(modules, ("numpy", "scipy", "sklearn")) == []  # the analysis API registers without them


def test_openapi_is_listed_and_prints_the_document(crm_process):
    code, out, err, modules = crm_process("openapi", "--help")
    assert code == 0, err
    assert "print" in out and "write" in out
    code, out, err, modules = crm_process("openapi", "print")
    assert code == 0, err
    document = json.loads(out)
    assert "/api/v1/customers" in document["paths"]


def test_each_model_module_maps_alone_and_the_package_maps_all():
    """A light command imports only the model modules it needs: each of them, alone in a fresh interpreter, maps and
    configures (the classes its relationships name come with it); asking the package for a class maps every table."""
    from crmcore.models import MODULES

    script = ("import importlib, sys\n"
              "from sqlalchemy.orm import configure_mappers\n"
              "from crmcore.db import Base\n"
              "name = sys.argv[1]\n"
              "if name == '*':\n"
              "    from crmcore.models import Customer  # noqa: F401\n"
              "else:\n"
              "    importlib.import_module('crmcore.models.' + name)\n"
              "configure_mappers()\n"
              "print(len(Base.metadata.tables))\n")
    runs = {name: subprocess.Popen([sys.executable, "-c", script, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for name in (*MODULES, "*")}
    counts = {}
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (name, err)
        counts[name] = int(out)
    assert counts["auth"] < counts["*"] and counts["integration"] < counts["*"]
    assert counts["*"] == max(counts.values())
