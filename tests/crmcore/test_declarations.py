"""A plugin registers models, migrations, templates, translations, permissions, blueprints, admin
views, commands and jobs by ``CRM_*`` attributes and folder conventions instead of stub hooks."""
from __future__ import annotations


import sys
import textwrap
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import click
import pytest
from sqlalchemy import inspect as sa_inspect

from crmcore import hookimpl
from crmcore.contracts import Permission
from crmcore.errors import PluginError
from crmcore.plugins import register_commands

PACKAGE = "crm_declared_demo"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A plugin package on sys.path with no hook implementation at all."""
    root = tmp_path / "src" / PACKAGE
    (root / "migrations").mkdir(parents=True)
    (root / "templates" / "declared").mkdir(parents=True)
    (root / "translations" / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    (root / "templates" / "declared" / "hello.html").write_text("declared {{ name }}", encoding="utf-8")
    (root / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "Declared"\nmsgstr "已声明"\n',
        encoding="utf-8")
    (root / "__init__.py").write_text(textwrap.dedent('''
        from crmcore.contracts import Job, Permission
        CRM_PERMISSIONS = [Permission("declared.read", "Read declared things", ("manager",))]
        CRM_BLUEPRINTS = ".web:blueprints"
        CRM_ADMIN_VIEWS = ".web:admin_views"
        CRM_COMMANDS = [".web:declared"]
        CRM_JOBS = [Job("declared.nightly", lambda ctx: None, 86400)]
    '''), encoding="utf-8")
    (root / "models.py").write_text(textwrap.dedent('''
        from sqlalchemy.orm import Mapped, mapped_column
        from crmcore.db import Base
        class Declared(Base):
            __tablename__ = "declared_demo"
            id: Mapped[int] = mapped_column(primary_key=True)
    '''), encoding="utf-8")
    (root / "web.py").write_text(textwrap.dedent('''
        import click
        from flask import Blueprint, render_template
        bp = Blueprint("declared", __name__, url_prefix="/declared")
        @bp.route("/hello")
        def hello():
            return render_template("declared/hello.html", name="ok")
        SEEN = []
        def blueprints():
            return [bp]
        def admin_views(db):
            SEEN.append(db)
            return []
        @click.command("declared-hello")
        def declared():
            click.echo("declared hello")
    '''), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield root
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_a_package_plugin_registers_everything_without_hooks(make_app: Any, database: Any, package: Path) -> None:
    app = make_app(PLUGINS=[PACKAGE])
    rt = app.extensions["crm"]
    reg = rt.registry
    assert "declared.read" in reg.permissions and "declared.nightly" in reg.jobs
    assert [m.__tablename__ for m in reg.models if m.__module__ == f"{PACKAGE}.models"] == ["declared_demo"]
    assert reg.table_owners["declared_demo"] == PACKAGE
    assert sa_inspect(database.engine).has_table("declared_demo")
    assert reg.migrations[-1] == str(package / "migrations")
    web = sys.modules[f"{PACKAGE}.web"]
    assert web.SEEN == [rt.db]  # the admin views function got the hook's ``db``
    # templates/ joined the search path: the blueprint's page renders the plugin's template
    assert app.test_client().get("/declared/hello").get_data(as_text=True) == "declared ok"
    # translations/ was compiled and merged
    assert list((Path(rt.settings["INSTANCE_PATH"]) / "translations" / "plugins" / PACKAGE).rglob("messages.mo"))
    group = click.Group("crm")
    register_commands(rt.pm, group)
    assert "declared-hello" in group.commands


def test_misspelled_declaration_fails_at_startup(make_app: Any) -> None:
    with pytest.raises(PluginError, match=r"'typo'.*CRM_PERMISIONS.*crm_register_permisions"):
        make_app(plugins=[("typo", SimpleNamespace(CRM_PERMISIONS=[]))])


def test_declaring_and_implementing_the_same_hook_is_refused(make_app: Any) -> None:
    both = SimpleNamespace(CRM_PERMISSIONS=[Permission("both.read", "x")],
                           crm_register_permissions=hookimpl(lambda: [Permission("both.write", "y")]))
    with pytest.raises(PluginError, match=r"'both'.*CRM_PERMISSIONS.*crm_register_permissions"):
        make_app(plugins=[("both", both)])


def test_a_hook_function_without_hookimpl_is_refused(make_app: Any) -> None:
    """A ``crm_*`` function left without ``@hookimpl`` (easy to lose in an edit) would never be called."""
    def crm_customer_panels(ctx: Any, customer: Any) -> list[Any]:
        return []

    forgot = ModuleType("forgot_plugin")
    crm_customer_panels.__module__ = forgot.__name__  # defined in the plugin's module, as in a real one
    forgot.crm_customer_panels = crm_customer_panels  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match=r"'forgot'.*crm_customer_panels without @hookimpl"):
        make_app(plugins=[("forgot", forgot)])


def test_a_reference_that_cannot_be_found_names_the_plugin(make_app: Any) -> None:
    broken = SimpleNamespace(CRM_JOBS="no_such_module_here:JOBS")
    with pytest.raises(PluginError, match=r"'broken'.*no_such_module_here:JOBS"):
        make_app(plugins=[("broken", broken)])


def test_a_hook_the_plugin_implements_wins_over_its_package_convention(make_app: Any, package: Path) -> None:
    module = __import__(PACKAGE)
    module.crm_register_models = hookimpl(lambda: [])
    try:
        app = make_app(PLUGINS=[PACKAGE])
        assert "declared_demo" not in app.extensions["crm"].registry.table_owners
    finally:
        del module.crm_register_models


def test_crm_plugins_lists_the_declarations(make_app: Any) -> None:
    app = make_app(PLUGINS=["plugins.sales"])
    from crmcore.cli import cli

    result = app.test_cli_runner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    sales = result.output.split("\nsales", 1)[1]
    assert "    CRM_PERMISSIONS (declared)" in sales and "    crm_customer_panels" in sales
