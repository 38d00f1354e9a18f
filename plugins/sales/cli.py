"""``crm sales ...``: recompute and show KPIs, import leads, seed stages, demo data (the daily KPI job is in
``jobs.py``)."""
from __future__ import annotations

import json
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup



def _ctx() -> Any:
    return current_app.extensions["crm"].context(source="cli")


@click.group("sales", cls=AppGroup)
def sales() -> None:
    """Sales automation: KPIs, leads, stages."""


@sales.group("kpis")
def kpis_group() -> None:
    """Sales KPIs."""


@kpis_group.command("recompute")
@click.option("--period", help="2026-03, 2026-Q1, 2026 or 2026-01-01..2026-01-31 (default: this month)")
@click.option("--currency", help="Report currency (default: the base currency)")
def recompute_cmd(period: str | None, currency: str | None) -> None:
    """Compute every KPI for the company, each team and each rep, and store the snapshots."""
    from .services.money import base_currency
    from .services.periods import parse_period
    from .services.snapshots import recompute

    ctx = _ctx()
    p = parse_period(period, ctx)
    cur = (currency or base_currency(ctx)).upper()
    n = recompute(ctx, p, cur)
    click.echo(f"Stored {n} KPI values for {p.label} in {cur}.")


@kpis_group.command("show")
@click.option("--period")
@click.option("--rep", "rep_id", type=int, help="User id of a rep")
@click.option("--team", "team_id", type=int, help="Team id")
@click.option("--currency")
@click.option("--json", "as_json", is_flag=True)
def show_cmd(period: str | None, rep_id: int | None, team_id: int | None, currency: str | None, as_json: bool) -> None:
    """Compute and print the KPIs (company unless --rep or --team)."""
    from .api.kpis import kpi_query, report

    ctx = _ctx()
    data = report(ctx, kpi_query(ctx, {"period": period, "rep_id": rep_id, "team_id": team_id, "currency": currency}))
    if as_json:
        click.echo(json.dumps(data, default=str, indent=2, ensure_ascii=False))
        return
    click.echo(f"{data['subject_label']} - {data['period']} ({data['currency']})")
    for value in data["kpis"].values():
        shown = "-" if value["value"] is None else value["value"]
        note = f"  ({value['note']})" if value["note"] else ""
        click.echo(f"  {value['label']:<32} {shown}{note}")


@sales.command("import-leads")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--encoding", help="utf-8, utf-8-sig, gb18030, ... (detected when omitted)")
def import_leads_cmd(file: str, encoding: str | None) -> None:
    """Import leads from a CSV file with a header (name, company, phone, email, campaign, ...).

    Every row is created or rejected with its line and reason; a row the encoding cannot read
    is rejected too, never skipped."""
    from crmcore.errors import CRMError
    from crmcore.i18n import _
    from crmcore.services.importer import open_csv, plain_row, read_csv

    from .services.leads import import_leads

    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    unreadable: list[tuple[int, Any]] = []
    try:
        fh, used = open_csv(file, encoding)
        with fh:
            for line, row in read_csv(fh, used, convert=plain_row):
                if isinstance(row, Exception):
                    unreadable.append((line, getattr(row, "errors", None) or {"row": [str(row)]}))
                else:
                    rows.append(row)
                    lines.append(line)
    except CRMError as exc:
        raise click.ClickException(exc.message) from None
    results = import_leads(_ctx(), rows)
    created = sum(1 for r in results if r.status == "created")
    rejected = sorted(unreadable + [(lines[r.index], r.errors) for r in results if r.status == "rejected"])
    click.echo(str(_("%(total)s rows read: created %(created)s, rejected %(rejected)s",
                     total=created + len(rejected), created=created, rejected=len(rejected))))
    for line, errors in rejected:
        click.echo(f"  line {line}: {errors}", err=True)


@sales.command("seed-stages")
def seed_stages_cmd() -> None:
    """Create the default opportunity stages if none are defined."""
    from .services.stages import ensure_stages

    ensure_stages(_ctx())
    click.echo("Stages ready.")


@sales.command("demo")
def demo_cmd() -> None:
    """Load demo sales data for the core's demo customers (run `crm demo` first); idempotent."""
    from .services.demo import load_demo

    click.echo(load_demo(_ctx()))
