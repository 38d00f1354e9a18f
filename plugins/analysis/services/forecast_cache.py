"""The forecast of a reader limited to their own or their team's customers, kept (``ModelFit``, kind
``fc:<scope>:<user>``) until their data may have changed, instead of being fitted on every page view.

A kept forecast is used while all of these hold: it was computed today, less than
``ANALYSIS_FORECAST_CACHE_MINUTES`` (60) ago, no order, opportunity, stage, product or customer was written
since (``crm_events`` drops every kept one), and no order, order line, opportunity or stage change was added
without an event (the highest ids of those tables are part of its key)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from sqlalchemy import delete, func, select

from crmcore.runtime import ServiceContext
from crmcore.services import stamps
from plugins.sales.models import Opportunity, Order, OrderLine, StageHistory

from ..models import ModelFit

PREFIX = "fc:"
DEFAULT_MINUTES = 60
INVALIDATING = ("sales.order.", "sales.opportunity.", "sales.stage.", "sales.product.", "customer.")
ENTITIES = frozenset({"order", "order_line", "opportunity", "stage", "product", "customer", "sales_exchange_rate"})


def _kind(ctx: ServiceContext) -> str:
    return f"{PREFIX}{ctx.scope}:{ctx.actor_id}"


def fingerprint(ctx: ServiceContext) -> list[int]:
    """The highest ids of the tables a forecast reads (one query, each by its primary key's index)."""
    row = ctx.session.execute(select(*[select(func.coalesce(func.max(m.id), 0)).scalar_subquery()
                                       for m in (Order, OrderLine, Opportunity, StageHistory)])).one()
    return [int(v) for v in row]


def kept_forecast(ctx: ServiceContext, as_of: dt.date, compute: Callable[[ServiceContext, dt.date, int], dict[str, Any]],
                  horizon: int = 3) -> dict[str, Any]:
    """The reader's forecast (unlabelled, with ``computed_at``): the kept one while it holds, else one computed
    now by ``compute`` and kept."""
    kind, key = _kind(ctx), fingerprint(ctx)
    minutes = int(ctx.settings.get("ANALYSIS_FORECAST_CACHE_MINUTES") or DEFAULT_MINUTES)
    now = dt.datetime.now(dt.timezone.utc)
    row = ctx.session.scalar(select(ModelFit).where(ModelFit.kind == kind).order_by(ModelFit.id.desc()).limit(1))
    if (row is not None and row.run_date == as_of and row.params.get("key") == key
            and row.params.get("horizon") == horizon and now - row.created_at < dt.timedelta(minutes=minutes)):
        return dict(row.metrics)
    result = {**compute(ctx, as_of, horizon), "computed_at": now.isoformat(timespec="seconds"),
              "fresh_minutes": minutes}
    ctx.session.execute(delete(ModelFit).where(ModelFit.kind == kind))
    ctx.session.add(ModelFit(kind=kind, run_date=as_of, params={"key": key, "horizon": horizon}, metrics=result,
                             created_at=now))
    ctx.session.commit()
    return result


# built once: asked after every commit that writes what a forecast reads
_ANY_KEPT = select(ModelFit.id).where(ModelFit.kind.startswith(PREFIX)).limit(1)


def on_events(ctx: ServiceContext, events: list[Any]) -> None:
    """Drop every kept reader forecast when a record it reads was written (one indexed read per such commit, and
    the delete when any is kept)."""
    if not any(e.name.startswith(INVALIDATING) or getattr(e, "entity", None) in ENTITIES for e in events):
        return
    # a read by index when none is kept (an API request: what its process keeps, while the fits have not changed)
    if stamps.kept_value(ctx.session, "model_fits", lambda: ctx.session.scalar(_ANY_KEPT) is not None):
        ctx.session.execute(delete(ModelFit).where(ModelFit.kind.startswith(PREFIX)))
        ctx.session.commit()
