"""Tickets driven by the core's workflow engine: the ``service_ticket`` entity, guards on the
plugin's predicate, the escalation action, and the SLA effects of moves the engine makes."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from crmcore import hookimpl
from crmcore.errors import Conflict, PermissionDenied
from crmcore.services import customers as customer_svc
from crmcore.services import users as user_svc
from crmcore.services import workflow as wf_svc
from plugins.service.models import Survey
from plugins.service.services import sla, tickets

FLOW = {
    "name": "complaints", "entity": "service_ticket", "state_field": "state", "priority": 10,
    "condition": {"field": "kind", "op": "eq", "value": "complaint"},
    "states": [{"name": "new", "initial": True}, {"name": "in_progress"}, {"name": "waiting_on_customer"},
               {"name": "resolved", "final": True}],
    "transitions": [
        {"action": "start", "from_state": "new", "to_state": "in_progress"},
        {"action": "ask", "from_state": "in_progress", "to_state": "waiting_on_customer"},
        {"action": "resume", "from_state": "waiting_on_customer", "to_state": "in_progress"},
        {"action": "escalate", "from_state": "in_progress", "to_state": "in_progress",
         "guard": {"predicate": "service.ticket.sla_breached"}},
        {"action": "resolve", "from_state": "*", "to_state": "resolved", "roles": ["manager"]},
    ],
}


def test_the_engine_drives_complaint_tickets_with_sla_effects(ctx, make_customer, make_staff, as_user):
    wf_svc.create_workflow(ctx, FLOW)
    sla.save_policy(ctx, {"name": "N", "priority": "normal", "first_response_minutes": 60, "resolution_minutes": 600})
    agent, boss = make_staff("agent"), make_staff("boss", "manager")
    customer = make_customer("Angry", boss)
    t = tickets.create_ticket(ctx, {"subject": "Late delivery", "kind": "complaint", "customer_id": customer.id})
    assert wf_svc.available_actions(ctx, "service_ticket", t.id)["workflow"] == "complaints"
    wf_svc.fire(as_user(agent), "service_ticket", t.id, "start")
    wf_svc.fire(as_user(agent), "service_ticket", t.id, "ask")
    ctx.session.expire_all()
    t = tickets.get_ticket(ctx, t.id)
    assert t.state == "waiting_on_customer" and t.paused_since is not None and t.first_responded_at is not None
    wf_svc.fire(as_user(agent), "service_ticket", t.id, "resume")
    # the guard uses the plugin's predicate: not breached, no escalation
    with pytest.raises(Conflict):
        wf_svc.fire(as_user(agent), "service_ticket", t.id, "escalate")
    # once the resolution target is missed, the guard lets the escalation through
    found = sla.check_breaches(ctx, now=t.resolution_due_at + dt.timedelta(minutes=1))
    assert [b["target"] for b in found] == ["resolution"]
    assert wf_svc.fire(as_user(agent), "service_ticket", t.id, "escalate")["status"] == "done"
    with pytest.raises(PermissionDenied):
        wf_svc.fire(as_user(agent), "service_ticket", t.id, "resolve")
    wf_svc.fire(as_user(boss), "service_ticket", t.id, "resolve")
    ctx.session.expire_all()
    t = tickets.get_ticket(ctx, t.id)
    assert t.state == "resolved" and t.resolved_at is not None and t.paused_since is None
    assert ctx.session.scalar(select(Survey).where(Survey.ticket_id == t.id)) is not None
    # tickets the workflow's condition does not match keep the plugin's own moves
    other = tickets.create_ticket(ctx, {"subject": "Question", "kind": "question"})
    with pytest.raises(Conflict):
        wf_svc.fire(ctx, "service_ticket", other.id, "start")
    assert tickets.transition(ctx, other.id, "in_progress").state == "in_progress"


def test_escalate_action_on_entering_a_state(ctx, make_staff, as_user, rt):
    flow = {**FLOW, "name": "escalating", "condition": None,
            "states": [{"name": "new", "initial": True}, {"name": "in_progress", "actions": ["service.ticket.escalate"]},
                       {"name": "waiting_on_customer"}, {"name": "resolved", "final": True}]}
    wf_svc.create_workflow(ctx, flow)
    t = tickets.create_ticket(ctx, {"subject": "x"})
    wf_svc.fire(ctx, "service_ticket", t.id, "start")
    ctx.session.expire_all()
    assert tickets.get_ticket(ctx, t.id).escalation_level == 1


class StateEvents:
    """A one-test plugin that records the ``service.ticket.<state>`` events its listeners see."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, str]] = []

    @hookimpl
    def crm_event(self, ctx, event):
        if event.name.startswith("service.ticket.") and event.name.rsplit(".", 1)[1] in STATE_KEYS:
            self.seen.append((event.entity_id, event.name, event.data["state"]))


STATE_KEYS = {"new", "assigned", "in_progress", "waiting_on_customer", "resolved", "closed", "reopened"}


def test_engine_moves_emit_the_plugins_state_events(make_app, make_staff, make_customer):
    listener = StateEvents()
    app = make_app(plugins=[("state_events", listener)], PLUGINS=["plugins.service"])
    rt = app.extensions["crm"]
    ctx = rt.context(source="test")
    try:
        wf_svc.create_workflow(ctx, FLOW)
        boss = user_svc.create_user(ctx, "boss", None, "manager")
        mine = tickets.create_ticket(ctx, {"subject": "Question", "kind": "question"})
        for state in ("in_progress", "waiting_on_customer", "in_progress", "resolved"):
            tickets.transition(ctx, mine.id, state)
        customer = customer_svc.create_customer(ctx, {"name": "Angry", "owner_id": boss.id})
        engine = tickets.create_ticket(ctx, {"subject": "Complaint", "kind": "complaint", "customer_id": customer.id})
        for action in ("start", "ask", "resume"):
            wf_svc.fire(ctx, "service_ticket", engine.id, action)
        wf_svc.fire(rt.context(actor=boss), "service_ticket", engine.id, "resolve")
        by_plugin = [(name, state) for tid, name, state in listener.seen if tid == mine.id]
        by_engine = [(name, state) for tid, name, state in listener.seen if tid == engine.id]
        assert by_plugin == [("service.ticket.in_progress", "in_progress"),
                             ("service.ticket.waiting_on_customer", "waiting_on_customer"),
                             ("service.ticket.in_progress", "in_progress"), ("service.ticket.resolved", "resolved")]
        assert by_engine == by_plugin  # the same events either way, each once
        # an assignment's automatic new -> assigned is not an engine move: no extra event
        other = tickets.create_ticket(ctx, {"subject": "x"})
        tickets.update_ticket(ctx, other.id, {"assignee_id": boss.id})
        assert [s for tid, _n, s in listener.seen if tid == other.id] == []
    finally:
        ctx.session.close()
