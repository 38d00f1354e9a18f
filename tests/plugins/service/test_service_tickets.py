"""Tickets through the services: states as data and allowed moves, SLA due times, pause while
waiting on the customer, breach detection and escalation, audit and events, record rules, timeline."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crmcore import hookimpl
from crmcore.errors import NotFound, PermissionDenied, ValidationError
from crmcore.models import AuditLog, Customer, Interaction
from plugins.service.models import Ticket, TicketTransition
from plugins.service.services import sla, tickets
from plugins.service.services.states import allowed_moves

SH = ZoneInfo("Asia/Shanghai")
WEEK = {str(d): [["09:00", "18:00"]] for d in range(1, 6)}


def sh(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


@pytest.fixture
def policy(ctx):
    cal = sla.save_calendar(ctx, {"name": "Beijing office", "timezone": "Asia/Shanghai", "weekly": WEEK,
                                  "days": [{"day": dt.date(2026, 10, d), "kind": "holiday"} for d in range(1, 8)]
                                  + [{"day": dt.date(2026, 10, 10), "kind": "workday"}]})
    sla.save_policy(ctx, {"name": "Normal", "priority": "normal", "first_response_minutes": 120,
                          "resolution_minutes": 960, "calendar_id": cal.id})
    sla.save_policy(ctx, {"name": "Normal VIP", "priority": "normal", "customer_level": "VIP",
                          "first_response_minutes": 30, "resolution_minutes": 240, "calendar_id": cal.id})
    return cal


def test_states_are_data_and_moves_are_checked(ctx, make_customer):
    customer = make_customer("Acme")
    t = tickets.create_ticket(ctx, {"subject": "Broken", "customer_id": customer.id})
    assert t.state == "new" and t.number == f"SR-{t.id:06d}"
    assert set(allowed_moves(ctx, "new")) >= {"assigned", "in_progress", "resolved"}
    with pytest.raises(ValidationError, match="cannot move"):
        tickets.transition(ctx, t.id, "reopened")
    with pytest.raises(ValidationError, match="Unknown state"):
        tickets.transition(ctx, t.id, "teleported")
    for state in ("in_progress", "waiting_on_customer", "in_progress", "resolved", "closed", "reopened"):
        tickets.transition(ctx, t.id, state)
    assert t.state == "reopened" and t.resolved_at is None and t.closed_at is None
    # a move added as data is allowed at once; one limited to a role refuses other roles
    ctx.session.add(TicketTransition(from_state="reopened", to_state="closed", roles=["manager"]))
    ctx.session.commit()
    assert "closed" in allowed_moves(ctx, "reopened")


def test_role_limited_move(ctx, make_customer, make_staff, as_user):
    agent = make_staff("agent1", "service")
    t = tickets.create_ticket(ctx, {"subject": "x", "customer_id": make_customer("A").id})
    ctx.session.add(TicketTransition(from_state="new", to_state="reopened", roles=["manager"]))
    ctx.session.commit()
    with pytest.raises(PermissionDenied):
        tickets.transition(as_user(agent), t.id, "reopened")


def test_sla_due_times_follow_policy_level_and_business_hours(ctx, make_customer, policy):
    plain = make_customer("Plain Co")
    vip = make_customer("Big Co", level="VIP")
    # Friday 17:00 Shanghai: first response 2h -> Monday 10:00; resolution 16h -> Tuesday 15:00
    t1 = tickets.create_ticket(ctx, {"subject": "a", "customer_id": plain.id}, now=sh(2026, 3, 6, 17, 0))
    assert t1.sla_policy.name == "Normal"
    assert t1.first_response_due_at == sh(2026, 3, 9, 10, 0)
    assert t1.resolution_due_at == sh(2026, 3, 10, 15, 0)
    t2 = tickets.create_ticket(ctx, {"subject": "b", "customer_id": vip.id}, now=sh(2026, 9, 30, 17, 45))
    assert t2.sla_policy.name == "Normal VIP"
    # 15 min on 30 Sept, the golden week off, 15 min on Thursday 8 Oct
    assert t2.first_response_due_at == sh(2026, 10, 8, 9, 15)
    # a higher priority without a policy has no due times
    tickets.update_ticket(ctx, t1.id, {"priority": "urgent"})
    assert t1.sla_policy_id is None and t1.resolution_due_at is None


def test_waiting_on_customer_pauses_the_resolution_clock(ctx, make_customer, policy):
    t = tickets.create_ticket(ctx, {"subject": "a", "customer_id": make_customer("A").id}, now=sh(2026, 3, 2, 9, 0))
    assert t.resolution_due_at == sh(2026, 3, 3, 16, 0)  # 16 business hours
    tickets.transition(ctx, t.id, "waiting_on_customer", now=sh(2026, 3, 2, 10, 0))  # 15h left
    assert t.first_responded_at == sh(2026, 3, 2, 10, 0) and t.paused_since is not None
    # the customer answers two days later, at 14:00 Wednesday: 15h of business time from then
    tickets.customer_message(ctx, t, {"body": "Here are the logs", "channel": "email"}, now=sh(2026, 3, 4, 14, 0))
    assert t.state == "in_progress" and t.paused_since is None
    assert t.resolution_due_at == sh(2026, 3, 6, 11, 0)
    # no breach is found while paused
    tickets.transition(ctx, t.id, "waiting_on_customer", now=sh(2026, 3, 5, 9, 0))
    assert sla.check_breaches(ctx, now=sh(2026, 3, 20, 9, 0)) == []


def test_breach_detection_escalates_once(ctx, make_customer, policy, rt):
    seen = []

    class Listener:
        @hookimpl
        def crm_event(self, event):
            seen.append((event.name, event.entity_id, event.data.get("target")))

    rt.pm.register(Listener(), name="listener")
    try:
        t = tickets.create_ticket(ctx, {"subject": "a", "customer_id": make_customer("A").id}, now=sh(2026, 3, 2, 9, 0))
        assert sla.check_breaches(ctx, now=sh(2026, 3, 2, 10, 59)) == []
        found = sla.check_breaches(ctx, now=sh(2026, 3, 2, 11, 1))
        assert [(b["ticket_id"], b["target"], b["level"]) for b in found] == [(t.id, "first_response", 1)]
        assert ("service.ticket.escalated", t.id, "first_response") in seen
        assert ("service.ticket.sla_breached", t.id, "first_response") in seen
        assert sla.check_breaches(ctx, now=sh(2026, 3, 2, 11, 30)) == []  # idempotent
        found = sla.check_breaches(ctx, now=sh(2026, 3, 3, 16, 1))
        assert [(b["target"], b["level"]) for b in found] == [("resolution", 2)]
        assert t.escalation_level == 2
        entries = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "service_ticket",
                                                             AuditLog.action == "sla_breached")).all()
        assert len(entries) == 2
        # a resolved ticket is never breached later
        t2 = tickets.create_ticket(ctx, {"subject": "b"}, now=sh(2026, 3, 2, 9, 0))
        tickets.transition(ctx, t2.id, "resolved", now=sh(2026, 3, 2, 9, 30))
        assert sla.check_breaches(ctx, now=sh(2026, 4, 1, 9, 0)) == []
    finally:
        rt.pm.unregister(name="listener")


def test_every_change_is_audited_and_logged_on_the_timeline(ctx, make_customer):
    customer = make_customer("Acme")
    t = tickets.create_ticket(ctx, {"subject": "Noise", "customer_id": customer.id, "kind": "complaint"})
    tickets.update_ticket(ctx, t.id, {"priority": "high"})
    tickets.add_message(ctx, t.id, {"body": "We will call you", "internal": False})
    tickets.transition(ctx, t.id, "resolved")
    actions = [(a.action, a.changes) for a in ctx.session.scalars(
        select(AuditLog).where(AuditLog.entity == "service_ticket", AuditLog.entity_id == str(t.id))
        .order_by(AuditLog.id))]
    assert [a for a, _ in actions] == ["created", "updated", "state_changed"]
    assert actions[1][1] == {"priority": ["normal", "high"]}
    timeline = ctx.session.scalars(select(Interaction).where(Interaction.customer_id == customer.id)).all()
    assert any(i.entity_type == "service_ticket" and i.entity_id == str(t.id) for i in timeline)
    import re

    assert re.fullmatch(rf"<{t.number.lower()}\.{t.messages[-1].id}\.[0-9a-f]{{12}}@crm\.invalid>",
                        t.messages[-1].message_id)


def test_a_rolled_back_change_leaves_no_trace(ctx, make_customer):
    from crmcore.services.unit import unit_of_work

    with pytest.raises(RuntimeError):
        with unit_of_work(ctx):
            tickets.create_ticket(ctx, {"subject": "ghost"})
            raise RuntimeError("boom")
    assert ctx.session.scalars(select(Ticket)).all() == []
    assert ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "service_ticket")).all() == []


def test_record_rules(ctx, make_customer, make_staff, as_user):
    rep_a = make_staff("rep_a", "sales", team="East")
    rep_b = make_staff("rep_b", "sales", team="West")
    manager = make_staff("boss", "manager", team="East")
    from crmcore.models import Team

    east = ctx.session.scalar(select(Team).where(Team.name == "East"))
    east.manager_id = manager.id
    ctx.session.commit()
    agent = make_staff("agent", "service")
    mine = tickets.create_ticket(ctx, {"subject": "a", "customer_id": make_customer("A", rep_a).id})
    theirs = tickets.create_ticket(ctx, {"subject": "b", "customer_id": make_customer("B", rep_b).id})
    assigned = tickets.create_ticket(ctx, {"subject": "c", "assignee_id": rep_a.id})
    ids = lambda user: {t.id for t in tickets.list_tickets(as_user(user))[0]}  # noqa: E731
    assert ids(rep_a) == {mine.id, assigned.id}
    assert ids(rep_b) == {theirs.id}
    assert ids(manager) == {mine.id, assigned.id}
    assert ids(agent) == {mine.id, theirs.id, assigned.id}
    with pytest.raises(NotFound):
        tickets.get_ticket(as_user(rep_b), mine.id)
    with pytest.raises(NotFound):
        tickets.update_ticket(as_user(rep_b), mine.id, {"priority": "high"})
    # a rep may not open a ticket for someone else's customer nor assign it to someone else
    with pytest.raises(PermissionDenied):
        tickets.create_ticket(as_user(rep_a), {"subject": "x", "customer_id": theirs.customer_id})
    with pytest.raises(PermissionDenied):
        tickets.create_ticket(as_user(rep_a), {"subject": "x", "assignee_id": rep_b.id})
    analyst = make_staff("ana", "analyst")
    with pytest.raises(PermissionDenied):
        tickets.create_ticket(as_user(analyst), {"subject": "x"})


def test_validation(ctx, make_customer):
    with pytest.raises(ValidationError) as err:
        tickets.create_ticket(ctx, {"subject": "  ", "priority": "asap", "kind": "rant"})
    assert set(err.value.errors) == {"subject", "priority", "kind"}
    other = make_customer("Other")
    from crmcore.services.contacts import create_contact

    contact = create_contact(ctx, other.id, {"name": "Li"})
    with pytest.raises(ValidationError, match="not valid"):
        tickets.create_ticket(ctx, {"subject": "x", "customer_id": make_customer("Mine").id, "contact_id": contact.id})


def test_customer_merge_moves_tickets_and_followups(ctx, make_customer):
    from crmcore.services.dedupe import merge_customers
    from plugins.service.services import followups

    winner, loser = make_customer("Acme Ltd"), make_customer("ACME")
    t = tickets.create_ticket(ctx, {"subject": "x", "customer_id": loser.id, "kind": "complaint"})
    followups.save_rule(ctx, {"name": "r", "trigger": "ticket", "offsets_days": [1]})
    tickets.transition(ctx, t.id, "resolved")
    summary = merge_customers(ctx, winner.id, loser.id)
    assert summary["moved"]["service_tickets"] == 1 and summary["moved"]["service_followups"] == 1
    ctx.session.expire_all()
    assert ctx.session.get(Ticket, t.id).customer_id == winner.id
    start = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
    assert tickets.count_complaints(ctx, select(Customer.id).where(Customer.id == winner.id), start, end) == 1


def test_targets_met_late_count_as_missed_in_the_compliance_report(ctx, make_customer, make_staff, policy):
    a, b = make_staff("a"), make_staff("b")
    on_time = tickets.create_ticket(ctx, {"subject": "quick", "assignee_id": a.id}, now=sh(2026, 3, 2, 9, 0))
    tickets.add_message(ctx, on_time.id, {"body": "hi"}, now=sh(2026, 3, 2, 9, 30))
    tickets.transition(ctx, on_time.id, "resolved", now=sh(2026, 3, 2, 12, 0))
    slow = tickets.create_ticket(ctx, {"subject": "slow", "assignee_id": b.id}, now=sh(2026, 3, 2, 9, 0))
    # first answer after 3 business hours (target 2h), resolved within the 16h: no job ran in between
    tickets.add_message(ctx, slow.id, {"body": "sorry"}, now=sh(2026, 3, 2, 12, 0))
    tickets.transition(ctx, slow.id, "resolved", now=sh(2026, 3, 3, 10, 0))
    assert slow.first_response_breached_at == sh(2026, 3, 2, 12, 0) and slow.resolution_breached_at is None
    start, end = sh(2026, 3, 1, 0, 0), sh(2026, 4, 1, 0, 0)
    assert sla.compliance(ctx, start, end) == [{"agent": None, "tickets": 2, "first_response_met": 0.5,
                                                "resolution_met": 1.0}]
    per_agent = {r["agent"]: r for r in sla.compliance(ctx, start, end, by="agent")}
    assert per_agent[a.id]["first_response_met"] == 1.0 and per_agent[b.id]["first_response_met"] == 0.0
    # the breach job never reports what was already recorded as missed
    assert sla.check_breaches(ctx, now=sh(2026, 3, 20, 9, 0)) == []


def test_breaches_are_committed_a_chunk_at_a_time(ctx, make_customer, policy, monkeypatch):
    """A long backlog of overdue tickets is marked ``sla.CHUNK`` tickets per transaction, so the job never
    holds the write lock (SQLite: every web writer waits on it) for the whole backlog."""
    from sqlalchemy import event

    customer = make_customer("Backlog Co")
    ids = [tickets.create_ticket(ctx, {"subject": f"t{i}", "customer_id": customer.id}, now=sh(2026, 3, 2, 9, 0)).id
           for i in range(5)]
    monkeypatch.setattr(sla, "CHUNK", 2)
    engine = ctx.session.get_bind()
    per_transaction: list[int] = [0]

    def count(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE SERVICE_TICKETS"):
            per_transaction[-1] += len(params) if executemany else 1

    def commit(conn):
        per_transaction.append(0)

    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", commit)
    try:
        found = sla.check_breaches(ctx, now=sh(2026, 3, 4, 9, 0))  # first response and resolution overdue
    finally:
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", commit)
    assert sorted((b["ticket_id"], b["target"]) for b in found) == sorted(
        [(i, "first_response") for i in ids] + [(i, "resolution") for i in ids])
    assert max(per_transaction) <= 2 * 2  # a ticket is updated twice at most in its chunk (breach, escalation)
    assert sum(1 for n in per_transaction if n) >= 5  # 10 breaches in chunks of 2
    assert sla.check_breaches(ctx, now=sh(2026, 3, 4, 9, 5)) == []
