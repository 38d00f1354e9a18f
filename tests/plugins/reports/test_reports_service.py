"""Reports over the service plugin's records: field visits by technician and state, under the reader's rules
(a visit is seen through its ticket)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest

from plugins.service import models  # noqa: F401 - the tables are on the metadata before the database fixture

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app(PLUGINS=["plugins.service", "plugins.reports"])


def test_visits_by_technician_and_state(ctx: Any, make_user: Any, make_customer: Any) -> None:
    from plugins.reports.services import definition, query
    from plugins.service.services import tickets, visits

    tech, _ = make_user("service", username="tech")
    for n in range(2):
        ticket = tickets.create_ticket(ctx, {"subject": f"Heater {n}", "customer_id": make_customer(f"Home {n}").id})
        visits.schedule_visit(ctx, ticket.id, {"technician_id": tech.id, "address": "上海 1 号",
                                               "window_start": dt.datetime(2026, 3, 2 + n, 9, tzinfo=SH),
                                               "window_end": dt.datetime(2026, 3, 2 + n, 11, tzinfo=SH)})
    values = definition.complete(definition.validate_report(ctx, {
        "name": "Visits", "entity": "visit", "measures": [{"agg": "count"}],
        "group_by": [{"field": "technician_id"}, {"field": "state"}]}, None))
    result = query.run(ctx, values)
    assert [(*r["cells"], *r["values"]) for r in result.rows] == [("tech", "Scheduled", 2)]
    assert [c.label for c in result.columns][:2] == ["Technician", "State"]
