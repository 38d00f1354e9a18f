"""The sales plugin as a third party: entry point, its own hook specifications, permissions for
the default roles, its Alembic branch (matches the models, upgrades and downgrades), imports."""
from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from crmcore import hookimpl
from crmcore.db import Base
from crmcore.errors import PluginError
from crmcore.models import Role
from crmcore.plugins import build_plugin_manager
from crmcore.runtime import build_runtime

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "plugins" / "sales"


def test_registered_as_an_entry_point_and_loaded_by_autoload(make_app):
    eps = {ep.name: ep.value for ep in entry_points(group="crmcore.plugins")}
    assert eps.get("sales") == "plugins.sales"
    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": True, "PLUGINS_ALLOW": ["sales"]})
    assert pm.get_plugin("sales") is not None
    assert pm.crm_plugin_info["sales"].source == "entry point"
    assert hasattr(pm.hook, "crm_sales_cross_sell")


def test_plugin_hookspecs_are_added_and_checked():
    class Analysis:
        @hookimpl
        def crm_sales_cross_sell(self, customer):
            return []

    pm = build_plugin_manager({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales"]}, extra=[("analysis", Analysis())])
    spec = pm.hook.crm_sales_complaints.spec
    assert spec is not None and spec.opts["firstresult"] is True
    # without the sales plugin the hook is unknown: a clear start-up error naming the plugin
    with pytest.raises(PluginError, match="analysis"):
        build_plugin_manager({"PLUGINS_AUTOLOAD": False}, extra=[("analysis", Analysis())])

    class Optional:
        @hookimpl(optionalhook=True)
        def crm_sales_cross_sell(self, customer):
            return []

    build_plugin_manager({"PLUGINS_AUTOLOAD": False}, extra=[("optional", Optional())])


def test_default_roles_get_sales_permissions(ctx):
    perms = {r.name: set(r.permissions) for r in ctx.session.scalars(select(Role))}
    assert {"sales.opportunity.write", "sales.quote.write", "sales.kpi.read"} <= perms["sales"]
    assert "sales.quote.approve" not in perms["sales"] and "sales.quote.approve" in perms["manager"]
    assert "sales.kpi.read" in perms["analyst"] and "sales.opportunity.write" not in perms["analyst"]
    assert not any(p.startswith("sales.") for p in perms["service"] - {"sales.product.read", "sales.order.read"})
    assert "sales.metric.manage" not in perms["manager"] and "sales.stage.manage" not in perms["manager"]


def test_migration_matches_the_models_and_downgrades(tmp_path):
    from crmcore import migrate

    rt = build_runtime({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.sales"],
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}", "INSTANCE_PATH": str(tmp_path)})
    try:
        migrate.upgrade(rt)
        sales_tables = {t for t in Base.metadata.tables if t.startswith("sales_")}
        assert sales_tables <= set(inspect(rt.db.engine).get_table_names())
        with rt.db.engine.connect() as conn:
            # only the sales tables: other plugins imported in this run (analysis refers to
            # sales_products) are not migrated into this database
            only_sales = {"compare_type": True,
                          "include_object": lambda obj, name, type_, reflected, compare_to:
                              type_ != "table" or name.startswith("sales_")}
            diff = compare_metadata(MigrationContext.configure(conn, opts=only_sales), Base.metadata)
        assert diff == []
        command.downgrade(migrate.alembic_config(rt), "sales@base")
        assert not sales_tables & set(inspect(rt.db.engine).get_table_names())
        assert "customers" in inspect(rt.db.engine).get_table_names()
    finally:
        rt.db.dispose()


def test_imports_only_crmcore_and_itself():
    allowed_ours = ("crmcore", "plugins.sales")
    for path in PLUGIN_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in ("plugins", "adapters"):
                    assert name.startswith(allowed_ours), f"{path.name} imports {name}"
