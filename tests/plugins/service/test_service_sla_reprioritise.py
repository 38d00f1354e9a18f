"""A priority change recomputes the SLA due times without losing the business time a ticket spent
waiting on the customer (finished pauses, and the pause it is in), and a reopened ticket keeps the
resolution clock that started at its reopening."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from plugins.service.services import sla, tickets

UTC = dt.timezone.utc
SH = ZoneInfo("Asia/Shanghai")


def policies(ctx, calendar_id=None):
    for priority, minutes in (("normal", 600), ("high", 300)):
        sla.save_policy(ctx, {"name": priority, "priority": priority, "first_response_minutes": 5000,
                              "resolution_minutes": minutes, "calendar_id": calendar_id})


def test_round_the_clock_priority_change_keeps_the_pause(ctx):
    policies(ctx)
    t0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    t = tickets.create_ticket(ctx, {"subject": "Router"}, now=t0)
    assert t.resolution_due_at == t0 + dt.timedelta(minutes=600)
    tickets.transition(ctx, t.id, "waiting_on_customer", now=t0 + dt.timedelta(minutes=60))
    tickets.transition(ctx, t.id, "in_progress", now=t0 + dt.timedelta(minutes=180))  # paused 120 minutes
    assert tickets.get_ticket(ctx, t.id).resolution_due_at == t0 + dt.timedelta(minutes=720)
    t = tickets.update_ticket(ctx, t.id, {"priority": "high"})
    assert t.resolution_due_at == t0 + dt.timedelta(minutes=300 + 120)
    # and back: the same pause still counts
    t = tickets.update_ticket(ctx, t.id, {"priority": "normal"})
    assert t.resolution_due_at == t0 + dt.timedelta(minutes=720)


def test_business_hours_pauses_overnight_and_a_change_during_a_pause(ctx):
    week = {str(d): [["09:00", "18:00"]] for d in range(1, 6)}
    cal = sla.save_calendar(ctx, {"name": "SH", "timezone": "Asia/Shanghai", "weekly": week})
    policies(ctx, cal.id)
    mon = lambda h, m=0: dt.datetime(2026, 3, 2, h, m, tzinfo=SH)  # noqa: E731 - a Monday
    tue = lambda h, m=0: dt.datetime(2026, 3, 3, h, m, tzinfo=SH)  # noqa: E731
    t = tickets.create_ticket(ctx, {"subject": "Heater"}, now=mon(10))
    assert t.resolution_due_at == tue(11)  # 600 business minutes: Mon 10-18 (480) + Tue 9-11 (120)
    tickets.transition(ctx, t.id, "waiting_on_customer", now=mon(11))
    tickets.transition(ctx, t.id, "in_progress", now=tue(10))  # paused Mon 11-18 + Tue 9-10 = 480 minutes
    assert tickets.get_ticket(ctx, t.id).resolution_due_at == dt.datetime(2026, 3, 4, 10, tzinfo=SH)
    # waiting on the customer again, and the priority goes up meanwhile
    tickets.transition(ctx, t.id, "waiting_on_customer", now=tue(12))
    t = tickets.update_ticket(ctx, t.id, {"priority": "high"})
    # 300 minutes worked: Mon 10-11 (60) + Tue 10-12 (120) counted so far; due as if never paused again
    assert t.resolution_due_at == tue(14)
    t = tickets.transition(ctx, t.id, "in_progress", now=tue(13))
    # the 120 minutes left at the pause count from the resumption: 60 + 120 + 120 = 300 worked
    assert t.resolution_due_at == tue(15)
    assert sla.paused_minutes(t, sla.hours_of(cal)) == 480 + 60


def test_a_reopened_ticket_keeps_its_new_clock_on_a_priority_change(ctx):
    policies(ctx)
    t0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    t = tickets.create_ticket(ctx, {"subject": "Printer"}, now=t0)
    tickets.transition(ctx, t.id, "waiting_on_customer", now=t0 + dt.timedelta(minutes=10))
    tickets.transition(ctx, t.id, "in_progress", now=t0 + dt.timedelta(minutes=50))
    tickets.transition(ctx, t.id, "resolved", now=t0 + dt.timedelta(minutes=60))
    reopened = t0 + dt.timedelta(days=2)
    t = tickets.transition(ctx, t.id, "reopened", now=reopened)
    assert t.resolution_due_at == reopened + dt.timedelta(minutes=600) and t.sla_pauses == []
    t = tickets.update_ticket(ctx, t.id, {"priority": "high"})
    assert t.resolution_due_at == reopened + dt.timedelta(minutes=300)
