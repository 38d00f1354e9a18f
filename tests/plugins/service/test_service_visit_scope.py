"""A clashing visit is named only to who may see it (scope_visits); others learn only that it overlaps."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crmcore.errors import ValidationError
from plugins.service.services import tickets, visits

SH = ZoneInfo("Asia/Shanghai")


def test_an_overlapping_visit_outside_the_scope_is_not_named(ctx, make_staff, as_user, make_customer):
    boss = make_staff("east_boss", "manager", team="East")
    west_tech = make_staff("west_tech", "service", team="West")
    east_tech = make_staff("east_tech", "service", team="East")
    theirs = tickets.create_ticket(ctx, {"subject": "West job", "customer_id": make_customer("W").id})
    window = {"window_start": dt.datetime(2026, 3, 2, 9, tzinfo=SH), "window_end": dt.datetime(2026, 3, 2, 11, tzinfo=SH)}
    hidden = visits.schedule_visit(ctx, theirs.id, {"technician_id": west_tech.id, "address": "W", **window})
    seen = visits.schedule_visit(ctx, theirs.id, {"technician_id": east_tech.id, "address": "E", **window})
    hidden_id, seen_id = hidden.id, seen.id
    mine = tickets.create_ticket(ctx, {"subject": "East job", "customer_id": make_customer("E", boss).id})
    with pytest.raises(ValidationError) as err:
        visits.schedule_visit(as_user(boss), mine.id, {"technician_id": west_tech.id, "address": "X", **window})
    shown = " ".join(str(m) for m in err.value.errors["window_start"])
    assert str(hidden_id) not in shown and "another visit" in shown
    with pytest.raises(ValidationError) as err:  # the team's own technician: the clash is named
        visits.schedule_visit(as_user(boss), mine.id, {"technician_id": east_tech.id, "address": "X", **window})
    assert f"visit {seen_id}" in " ".join(str(m) for m in err.value.errors["window_start"])
