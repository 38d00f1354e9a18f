"""The member events plugin as a plugin: its entry point and requirement, its migration, its imports, its demo,
its CLI."""
from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from crmcore.db import Base
from crmcore.runtime import build_runtime

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "plugins" / "member_events"


def test_registered_as_an_entry_point_requiring_marketing():
    import plugins.member_events as plugin

    eps = {ep.name: ep.value for ep in entry_points(group="crmcore.plugins")}
    assert eps.get("member_events") == "plugins.member_events"
    assert plugin.CRM_REQUIRES == ["marketing"]


def test_migration_matches_the_models_and_downgrades(tmp_path):
    from crmcore import migrate

    rt = build_runtime({"PLUGINS_AUTOLOAD": False, "PLUGINS": ["plugins.marketing", "plugins.member_events"],
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite'}", "INSTANCE_PATH": str(tmp_path)})
    try:
        migrate.upgrade(rt)
        ours = {t for t in Base.metadata.tables if t.startswith("member_event")}
        assert ours and ours <= set(inspect(rt.db.engine).get_table_names())
        with rt.db.engine.connect() as conn:
            only = {"compare_type": True, "include_object": lambda obj, name, type_, reflected, compare_to:
                    type_ != "table" or name.startswith("member_event")}
            assert compare_metadata(MigrationContext.configure(conn, opts=only), Base.metadata) == []
        command.downgrade(migrate.alembic_config(rt), "member_events@base")
        assert not ours & set(inspect(rt.db.engine).get_table_names())
        assert "marketing_audiences" in inspect(rt.db.engine).get_table_names()
    finally:
        rt.db.dispose()


def test_imports_only_crmcore_marketing_and_itself():
    for path in PLUGIN_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                if name.split(".")[0] in ("plugins", "adapters"):
                    assert name.startswith(("plugins.member_events", "plugins.marketing")), f"{path}: {name}"


def test_demo_has_an_event_with_answers_and_the_cli_lists_it(ctx, runner):
    from plugins.member_events.cli import events as cli
    from crmcore.demo import load_demo as core_demo
    from plugins.member_events.services import events
    from plugins.member_events.services.demo import load_demo

    core_demo(ctx)
    assert "invitations" in load_demo(ctx)
    assert "already" in load_demo(ctx)
    [event] = events.with_counts(ctx, events.list_events(ctx)[0])
    assert event.answers == {"pending": 1, "yes": 3, "no": 1, "maybe": 1} and event.capacity == 40  # one yes by WeChat
    assert events.local_start(event).hour == 18
    out = runner.invoke(cli, ["list"])
    assert out.exit_code == 0 and event.name in out.output and "Coming 3" in out.output
    links = runner.invoke(cli, ["links", str(event.id)])
    assert links.exit_code == 0 and links.output.count("/events/r/") == 6
    bad = runner.invoke(cli, ["checkin", "forged"])
    assert bad.exit_code != 0 and "QR code" in bad.output
