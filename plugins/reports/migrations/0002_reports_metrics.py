"""reports: each sales metric becomes a report (same name, entity, condition, measure; no grouping; same shares)

A metric is an aggregate over one entity's records matching a condition: a report with that entity, filters and
one measure and no grouping computes the same number. Runs only where the sales plugin's metric tables exist
(the reports plugin does not require sales); the metric rows stay, so nothing is lost and the sales plugin keeps
working without reports. Downgrade removes the reports this migration made (matched by name and its marker).

Revision ID: 0002_reports_metrics
Revises: 0001_reports
Create Date: 2026-12-06 16:55:00
"""
import datetime as dt
import logging

from alembic import op
import sqlalchemy as sa


revision = '0002_reports_metrics'
down_revision = '0001_reports'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
MARKER = "[metric]"  # ends the description of a report made from a metric: how downgrade finds its own
# the metric entities the report builder also knows (expense is not a registered entity: its metrics stay metrics)
ENTITIES = ("opportunity", "order", "invoice", "activity", "lead", "quote")

metrics = sa.table("sales_metrics", sa.column("id"), sa.column("name"), sa.column("label"),
                   sa.column("description"), sa.column("entity"), sa.column("conditions", sa.JSON),
                   sa.column("aggregate"), sa.column("field"), sa.column("created_by_id"))
metric_shares = sa.table("sales_metric_shares", sa.column("metric_id"), sa.column("role_id"), sa.column("user_id"))
reports = sa.table("reports", sa.column("id", sa.Integer), sa.column("name"), sa.column("description"),
                   sa.column("entity"), sa.column("filters", sa.JSON), sa.column("group_by", sa.JSON),
                   sa.column("measures", sa.JSON), sa.column("sort"), sa.column("sort_desc", sa.Boolean),
                   sa.column("row_limit"), sa.column("display"), sa.column("on_home", sa.Boolean),
                   sa.column("schedule"), sa.column("schedule_weekday"), sa.column("schedule_day"),
                   sa.column("schedule_time"), sa.column("owner_id"), sa.column("version"),
                   sa.column("created_at", sa.DateTime(timezone=True)),
                   sa.column("updated_at", sa.DateTime(timezone=True)))
report_shares = sa.table("report_shares", sa.column("report_id"), sa.column("role_id"), sa.column("user_id"))


def _description(label: str, description: str | None) -> str:
    return "\n".join(p for p in (label, description or "") if p) + f"\n{MARKER}"


def upgrade() -> None:
    conn = op.get_bind()
    if "sales_metrics" not in sa.inspect(conn).get_table_names():
        return  # the sales plugin is not installed: no metrics to move
    taken = set(conn.execute(sa.select(reports.c.name)).scalars())
    now = dt.datetime.now(dt.timezone.utc)
    for m in conn.execute(sa.select(*metrics.c).order_by(metrics.c.id)).mappings().all():
        if m["entity"] not in ENTITIES:
            log.warning("metric %r counts %s, which reports do not know: it stays a metric", m["name"], m["entity"])
            continue
        if m["name"] in taken:
            log.warning("metric %r: a report of that name exists already, left as it is", m["name"])
            continue
        measure = {"agg": m["aggregate"] or "count", "field": None if m["aggregate"] == "count" else m["field"]}
        report_id = conn.execute(sa.insert(reports).values(
            name=m["name"], description=_description(m["label"], m["description"]), entity=m["entity"],
            filters=m["conditions"] or None, group_by=[], measures=[measure], sort="group", sort_desc=False,
            row_limit=500, display="table", on_home=False, schedule="none", schedule_weekday=0, schedule_day=1,
            schedule_time="08:00", owner_id=m["created_by_id"], version=1, created_at=now, updated_at=now,
        ).returning(reports.c.id)).scalar_one()
        shares = conn.execute(sa.select(metric_shares.c.role_id, metric_shares.c.user_id)
                              .where(metric_shares.c.metric_id == m["id"])).all()
        if shares:
            conn.execute(sa.insert(report_shares), [{"report_id": report_id, "role_id": r, "user_id": u}
                                                    for r, u in shares])
        taken.add(m["name"])


def downgrade() -> None:
    conn = op.get_bind()
    if "sales_metrics" not in sa.inspect(conn).get_table_names():
        return
    names = set(conn.execute(sa.select(metrics.c.name)).scalars())
    ours = [r.id for r in conn.execute(sa.select(reports.c.id, reports.c.name, reports.c.description))
            if r.name in names and (r.description or "").endswith(f"\n{MARKER}")]
    if ours:
        conn.execute(sa.delete(report_shares).where(report_shares.c.report_id.in_(ours)))
        conn.execute(sa.delete(reports).where(reports.c.id.in_(ours)))
