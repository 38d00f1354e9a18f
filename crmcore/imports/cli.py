"""``crm import <kind> FILE``: one command per registered import kind, all through the one driver."""
from __future__ import annotations

import sys
from typing import Any

import click
from flask import current_app, has_app_context
from flask.cli import AppGroup, ScriptInfo, with_appcontext


def _kinds(click_ctx: click.Context) -> dict[str, Any]:
    """The registered import kinds, looked up with a session of its own, closed after (outside an app
    context nothing would remove a scoped one)."""
    from .driver import registered_kinds

    if has_app_context():
        runtime = current_app.extensions["crm"]
    else:
        runtime = click_ctx.ensure_object(ScriptInfo).load_app().extensions["crm"]
    with runtime.db.new_session() as session:
        return registered_kinds(runtime.context(source="cli", session=session))


def _help(kind: Any) -> str:
    columns = "\n".join(f"  {c.name}{' (required)' if c.required else ''}: {c.help}" for c in kind.columns)
    extra = f"\n  {', '.join(p + '<name>' for p in kind.prefixes)}" if kind.prefixes else ""
    return (f"Import {str(kind.label).lower()} from a CSV file; idempotent by the '{kind.key}' column.\n\n"
            f"\b\nColumns:\n{columns}{extra}")


def _command(kind: Any) -> click.Command:
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--encoding", help="utf-8, utf-8-sig, gb18030, ... (detected when omitted)")
    @click.option("--no-update", is_flag=True, help=f"Reject rows whose {kind.key} exists instead of updating them.")
    @click.option("--report", type=click.Path(dir_okay=False),
                  help="Where to write rejected rows (default FILE.rejected.csv).")
    @click.option("--audit", "audit_mode", type=click.Choice(["row", "summary"]), default="row", show_default=True,
                  help="row: an audit entry per record; summary: one per batch with its row count.")
    @with_appcontext
    def run(file: str, encoding: str | None, no_update: bool, report: str | None, audit_mode: str) -> None:
        run_import(kind.name, file, encoding=encoding, update=not no_update, report=report, audit=audit_mode)

    return click.command(kind.name, help=_help(kind), short_help=f"Import {str(kind.label).lower()}.")(run)


class ImportGroup(AppGroup):
    """The ``import`` group: its commands are the registered import kinds, found when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_kinds(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        kind = _kinds(ctx).get(cmd_name)
        return _command(kind) if kind is not None else None


import_group = ImportGroup("import", help="Import records from CSV files: crm import <kind> FILE (see docs/importing.md).")


def run_import(kind_name: str, file: str, *, encoding: str | None = None, update: bool = True,
               report: str | None = None, audit: str = "row") -> None:
    """Import FILE as ``kind_name`` with a progress bar, then print the summary (and where the rejects are)."""
    import os

    from ..i18n import _
    from .contract import ImportOptions
    from .driver import get_kind, import_file

    ctx = current_app.extensions["crm"].context(source="cli")
    kind = get_kind(ctx, kind_name)
    ctx.require(kind.permission)
    size = max(1, os.path.getsize(file))
    with click.progressbar(length=size, label=str(_("Importing")), file=sys.stderr) as bar:
        done = {"at": 0}

        def progress(position: int) -> None:
            bar.update(max(0, position - done["at"]))
            done["at"] = position

        outcome = import_file(ctx, kind, file, encoding=encoding, options=ImportOptions(update=update, audit=audit),
                              report_path=report, progress=progress)
    click.echo(f"Read {file} as {outcome.encoding}", err=True)
    counts = outcome.summary.counts
    # every record read is counted once: created + updated + unchanged + rejected = rows read
    click.echo(str(_("%(total)s rows read: created %(created)s, updated %(updated)s, unchanged %(unchanged)s, "
                     "rejected %(rejected)s", total=outcome.summary.total, **counts)))
    if outcome.report_path:
        click.echo(str(_("Rejected rows and reasons: %(path)s", path=outcome.report_path)))
