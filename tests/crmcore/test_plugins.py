"""The plugin manager: what loads (core, entry points, import paths, per-app plugins), what
does not (autoload off, disabled, allow-list), and the clear errors of a broken plugin."""
from __future__ import annotations

import json
import sys
from importlib.metadata import EntryPoint
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import crmcore.defaults
from crmcore import hookimpl
from crmcore import plugins as plugins_mod
from crmcore.cli import cli
from crmcore.config import load_settings
from crmcore.contracts import Job, Permission
from crmcore.errors import PluginError
from crmcore.plugins import ENTRY_POINT_GROUP, build_plugin_manager, plugin_summary
from crmcore.runtime import build_runtime


def names(pm: Any) -> list[str]:
    return sorted(name for name, _ in pm.list_name_plugin())


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> ModuleType:
    """A plugin module importable by ``name`` for this test only."""
    module = ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **targets: str) -> None:
    """Make ``crmcore.plugins`` see exactly these entry points: ``name="module.path"``."""
    eps = [EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in targets.items()]
    monkeypatch.setattr(plugins_mod, "entry_points", lambda group: eps if group == ENTRY_POINT_GROUP else [])


@pytest.fixture(autouse=True)
def _no_plugin_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests set the plugin settings themselves; the caller's environment must not."""
    for key in ("CRM_PLUGINS", "CRM_PLUGINS_AUTOLOAD", "CRM_PLUGINS_ALLOW", "CRM_PLUGINS_DISABLED", "CRM_CONFIG"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def two_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_module(monkeypatch, "crm_hooktest_alpha", crm_startup=hookimpl(lambda app: None))
    fake_module(monkeypatch, "crm_hooktest_beta", crm_startup=hookimpl(lambda app: None))
    fake_entry_points(monkeypatch, alpha="crm_hooktest_alpha", beta="crm_hooktest_beta")


@pytest.fixture
def module_on_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write a real module file importable by name; forget it afterwards."""
    written: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


# ---------------------------------------------------------------------------
# What loads
# ---------------------------------------------------------------------------


def test_core_is_always_loaded(two_entry_points):
    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": False, "PLUGINS_DISABLED": ["core"]})
    assert names(pm) == ["core"]
    assert pm.get_plugin("core") is crmcore.defaults
    assert [row["source"] for row in plugin_summary(pm) if row["name"] == "core"] == ["core"]


def test_entry_point_plugins_load_when_autoload_is_on(two_entry_points):
    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": True})
    assert names(pm) == ["alpha", "beta", "core"]
    assert pm.get_plugin("alpha") is sys.modules["crm_hooktest_alpha"]
    summary = {row["name"]: row for row in plugin_summary(pm)}
    assert summary["alpha"]["source"] == "entry point" and summary["alpha"]["module"] == "crm_hooktest_alpha"
    assert summary["alpha"]["hooks"] == ["crm_startup"]


def test_autoload_off_loads_no_entry_points(two_entry_points, monkeypatch):
    assert names(build_plugin_manager({"PLUGINS_AUTOLOAD": False})) == ["core"]
    monkeypatch.setenv("CRM_PLUGINS_AUTOLOAD", "0")
    settings = load_settings()
    assert settings["PLUGINS_AUTOLOAD"] is False
    assert names(build_plugin_manager(settings)) == ["core"]
    monkeypatch.setenv("CRM_PLUGINS_AUTOLOAD", "1")
    assert names(build_plugin_manager(load_settings())) == ["alpha", "beta", "core"]


def test_installed_example_plugin_loads_from_its_entry_point(make_app, make_user):
    """examples/crm-plugin-loyalty is installed in the venv (``make install``) under ``loyalty``."""
    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_ALLOW": ["loyalty"]})
    assert "loyalty" in names(pm), "pip install --no-deps -e examples/crm-plugin-loyalty"
    import crm_plugin_loyalty

    assert pm.get_plugin("loyalty") is crm_plugin_loyalty
    info = {row["name"]: row for row in plugin_summary(pm)}["loyalty"]
    assert (info["source"], info["module"], info["version"]) == ("entry point", "crm_plugin_loyalty", "0.1.0")
    assert "crm_event" in info["hooks"]

    app = make_app(PLUGINS_AUTOLOAD=True, PLUGINS_ALLOW=["loyalty"])
    _, headers = make_user("admin")
    client = app.test_client()
    cid = client.post("/api/v1/customers", json={"name": "Loyal Co"}, headers=headers).json["id"]
    r = client.get(f"/api/v1/loyalty/customers/{cid}", headers=headers)
    assert r.status_code == 200 and r.json["points"] == 0


def test_disabled_plugins_are_skipped(two_entry_points, monkeypatch):
    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_DISABLED": ["beta"]})
    assert names(pm) == ["alpha", "core"]
    assert "crm_hooktest_beta" not in [getattr(p, "__name__", "") for p in pm.get_plugins()]
    disabled = [row for row in plugin_summary(pm) if not row["enabled"]]
    assert [row["name"] for row in disabled] == ["beta"]

    monkeypatch.setenv("CRM_PLUGINS_DISABLED", "alpha, beta")
    settings = load_settings({"PLUGINS_AUTOLOAD": True})
    assert settings["PLUGINS_DISABLED"] == ["alpha", "beta"]
    assert names(build_plugin_manager(settings)) == ["core"]


def test_allow_list_loads_only_the_named_entry_points(two_entry_points, monkeypatch):
    assert names(build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_ALLOW": ["beta"]})) == ["beta", "core"]
    assert names(build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_ALLOW": []})) == ["core"]
    monkeypatch.setenv("CRM_PLUGINS_ALLOW", "alpha")
    assert names(build_plugin_manager(load_settings({"PLUGINS_AUTOLOAD": True}))) == ["alpha", "core"]


def test_plugins_by_import_path(module_on_path, monkeypatch, tmp_path):
    module_on_path("crm_hooktest_by_path", (
        "from crmcore import hookimpl\n"
        "from crmcore.contracts import Permission\n\n"
        "@hookimpl\n"
        "def crm_register_permissions():\n"
        "    return [Permission('bypath.use')]\n"))
    monkeypatch.setenv("CRM_PLUGINS", "crm_hooktest_by_path")
    settings = load_settings({"PLUGINS_AUTOLOAD": False, "INSTANCE_PATH": str(tmp_path),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}"})
    assert settings["PLUGINS"] == ["crm_hooktest_by_path"]
    rt = build_runtime(settings)
    assert names(rt.pm) == ["core", "crm_hooktest_by_path"]
    assert "bypath.use" in rt.registry.permissions
    info = {row["name"]: row for row in plugin_summary(rt.pm)}["crm_hooktest_by_path"]
    assert info["source"] == "config"
    # disabled by its name, it is not imported at all
    assert names(build_plugin_manager({**settings, "PLUGINS_DISABLED": ["crm_hooktest_by_path"]})) == ["core"]
    rt.db.dispose()


def test_each_app_has_its_own_plugin_manager(make_app):
    plugin = SimpleNamespace(crm_register_permissions=hookimpl(lambda: [Permission("own.thing")]))
    first = make_app(plugins=[("hooktest", plugin)])
    second = make_app()
    assert first.extensions["crm"].pm is not second.extensions["crm"].pm
    assert "hooktest" in names(first.extensions["crm"].pm)
    assert "hooktest" not in names(second.extensions["crm"].pm)
    assert "own.thing" not in second.extensions["crm"].registry.permissions


# ---------------------------------------------------------------------------
# Requirements and broken plugins: a clear PluginError at start-up
# ---------------------------------------------------------------------------


def test_missing_required_plugin_names_both(monkeypatch):
    fake_module(monkeypatch, "crm_hooktest_needy", CRM_REQUIRES=("hooktest_sales",))
    fake_module(monkeypatch, "crm_hooktest_sales")
    fake_entry_points(monkeypatch, hooktest_needy="crm_hooktest_needy", hooktest_sales="crm_hooktest_sales")

    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": True})
    assert {row["name"]: row["requires"] for row in plugin_summary(pm)}["hooktest_needy"] == ["hooktest_sales"]

    with pytest.raises(PluginError) as err:
        build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_DISABLED": ["hooktest_sales"]})
    assert "'hooktest_needy'" in err.value.message and "'hooktest_sales'" in err.value.message
    assert "disabled" in err.value.message

    with pytest.raises(PluginError) as err:
        build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_ALLOW": ["hooktest_needy"]})
    assert "'hooktest_needy' requires 'hooktest_sales'" in err.value.message


def test_requirement_between_app_plugins(make_app):
    parent = SimpleNamespace()
    child = SimpleNamespace(CRM_REQUIRES=("parent",))
    assert "child" in names(make_app(plugins=[("parent", parent), ("child", child)]).extensions["crm"].pm)
    with pytest.raises(PluginError, match="'child' requires 'parent'"):
        make_app(plugins=[("child", child)])


def test_plugin_that_fails_to_import_is_named(module_on_path, monkeypatch):
    module_on_path("crm_hooktest_broken", "import crm_hooktest_no_such_dependency\n")
    fake_entry_points(monkeypatch, broken="crm_hooktest_broken")
    with pytest.raises(PluginError) as err:
        build_plugin_manager({"PLUGINS_AUTOLOAD": True})
    assert "'broken'" in err.value.message and "crm_hooktest_no_such_dependency" in err.value.message
    # disabling it is the way out
    assert names(build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_DISABLED": ["broken"]})) == ["core"]

    with pytest.raises(PluginError, match="crm_hooktest_nowhere"):
        build_plugin_manager({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["crm_hooktest_nowhere"]})


def test_misspelled_hook_fails_at_startup(make_app):
    typo = SimpleNamespace(crm_evnt=hookimpl(lambda ctx, event: None))
    with pytest.raises(PluginError) as err:
        make_app(plugins=[("typo", typo)])
    assert "'typo'" in err.value.message and "crm_evnt" in err.value.message


def test_hook_argument_not_in_spec_fails_at_startup(make_app):
    class WrongArgument:
        @hookimpl
        def crm_event(self, ctx, evt):
            pass

    with pytest.raises(PluginError) as err:
        make_app(plugins=[("wrongarg", WrongArgument())])
    assert "'wrongarg'" in err.value.message and "evt" in err.value.message


def test_two_plugins_with_the_same_plugin_name(make_app):
    with pytest.raises(PluginError, match="'twin'"):
        make_app(plugins=[("twin", SimpleNamespace()), ("twin", SimpleNamespace(x=1))])


@pytest.mark.parametrize("hook, item, kind", [
    ("crm_register_permissions", Permission("customer.read"), "permission"),
    ("crm_register_jobs", Job("nightly.export", lambda ctx: None, 86400), "job"),
])
def test_duplicate_registered_name_names_both_plugins(make_app, hook, item, kind):
    first = SimpleNamespace(**{hook: hookimpl(lambda: [item])})
    second = SimpleNamespace(**{hook: hookimpl(lambda: [item])})
    with pytest.raises(PluginError) as err:
        make_app(plugins=[("first", first), ("second", second)])
    assert f"{kind} {item.name!r}" in err.value.message
    assert "'first'" in err.value.message and "'second'" in err.value.message
    if kind == "permission":  # clashing with the core's own permission names the core too
        with pytest.raises(PluginError) as err:
            make_app(plugins=[("first", first)])
        assert "'core'" in err.value.message and "'first'" in err.value.message


def test_collector_that_raises_is_named(make_app):
    def broken() -> list[Any]:
        raise KeyError("missing setting")

    with pytest.raises(PluginError, match="'shaky' failed in crm_register_jobs"):
        make_app(plugins=[("shaky", SimpleNamespace(crm_register_jobs=hookimpl(broken)))])


# ---------------------------------------------------------------------------
# Seeing the plugins: `crm plugins` and GET /api/v1/plugins
# ---------------------------------------------------------------------------


class Listing:
    CRM_REQUIRES = ()

    @hookimpl
    def crm_event(self, event):
        pass

    @hookimpl
    def crm_register_jobs(self):
        return [Job("listing.tick", lambda ctx: None, 60)]


def test_crm_plugins_command_lists_plugins_and_hooks(make_app):
    app = make_app(plugins=[("listing", Listing())], PLUGINS_DISABLED=["old_plugin"])
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("core  [core: crmcore.defaults]")
    start = next(i for i, line in enumerate(lines) if line.startswith("listing"))
    assert lines[start + 1:start + 3] == ["    crm_event", "    crm_register_jobs"]
    assert "old_plugin (disabled)  [config: None]" in lines

    rows = json.loads(runner.invoke(cli, ["plugins", "--json"]).output)
    listing = next(r for r in rows if r["name"] == "listing")
    assert listing["hooks"] == ["crm_event", "crm_register_jobs"] and listing["enabled"] is True
    core = next(r for r in rows if r["name"] == "core")
    assert "crm_register_permissions" in core["hooks"]


def test_plugins_api_needs_plugin_read(make_app, make_user):
    app = make_app(plugins=[("listing", Listing())])
    client = app.test_client()
    assert client.get("/api/v1/plugins").status_code == 401
    _, sales = make_user("sales")
    r = client.get("/api/v1/plugins", headers=sales)
    assert r.status_code == 403 and "plugin.read" in r.json["message"]
    _, admin = make_user("admin")
    r = client.get("/api/v1/plugins", headers=admin)
    assert r.status_code == 200
    rows = {row["name"]: row for row in r.json}
    assert set(rows) == {"core", "listing"}
    assert rows["listing"]["hooks"] == ["crm_event", "crm_register_jobs"]
