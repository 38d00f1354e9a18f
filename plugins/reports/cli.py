"""``crm report run NAME``: a saved report as a table (or CSV) on stdout (the ``reports.send`` job is in
``jobs.py``)."""
from __future__ import annotations

import unicodedata

import click
from flask import current_app
from flask.cli import AppGroup

from crmcore.errors import CRMError


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - _width(text))
    return gap + text if right else text + gap


@click.group("report", cls=AppGroup)
def report() -> None:
    """Reports: run a saved report."""


@report.command("run")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
@click.option("--user", "username", help="Run as this user, under their record rules (default: everything)")
def run_cmd(name: str, fmt: str, username: str | None) -> None:
    """Run the report NAME and print its rows."""
    from .services import definition, query, render, store

    rt = current_app.extensions["crm"]
    ctx = rt.context(source="cli")
    try:
        if username:
            from sqlalchemy import select

            from crmcore.models import User  # when the command runs: `crm --help` loads no ORM model

            user = ctx.session.scalar(select(User).where(User.username == username))
            if user is None:
                raise click.ClickException(f"No user named {username!r}.")
            ctx = rt.context(source="cli", actor=user, session=ctx.session)
        saved = store.find_report(ctx, name)
        result = query.run(ctx, definition.definition_of(saved), saved.name)
    except CRMError as exc:
        errors = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in (getattr(exc, "errors", None) or {}).items())
        raise click.ClickException(f"{exc.message}{' (' + errors + ')' if errors else ''}") from None
    finally:
        ctx.session.close()
    if fmt == "csv":
        click.echo(render.to_csv(result).lstrip("\ufeff"), nl=False)
        return
    rows = [[render._fmt(v) for v in row] for row in render.table_rows(result)]
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = [c.role == "measure" for c in result.columns]
    for n, row in enumerate(rows):
        click.echo("  ".join(_pad(v, widths[i], numeric[i] and n > 0) for i, v in enumerate(row)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))
    if result.truncated:
        from crmcore.i18n import _

        click.echo(_("Only the first %(n)s rows are shown.", n=result.limit))
