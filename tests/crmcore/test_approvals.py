"""Approvals with the internal provider on customer transitions: tiers in step order, quorum,
sequential turns, self-approval, rejection comments, restart on key-field edits, withdraw and
revoke with a compensating action, reminders and escalation, the inbox API, the audit."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from crmcore import hookimpl
from crmcore.contracts_workflow import WorkflowAction
from crmcore.db import utcnow
from crmcore.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crmcore.models import ApprovalDecision, ApprovalRequest, AuditLog, OutboxMessage
from crmcore.services import approvals as appr
from crmcore.services import customers as customer_svc
from crmcore.services import users as user_svc
from crmcore.services import workflow as wf_svc

compensated: list[Any] = []


class Actions:
    @hookimpl
    def crm_register_workflow_actions(self):
        return [WorkflowAction("test.compensate", lambda ctx, rec, params: compensated.append((rec.id, params["status"])))]


@pytest.fixture
def app(make_app):
    compensated.clear()
    return make_app(plugins=[("apprtest", Actions())])


@pytest.fixture
def team(ctx):
    """East: boss manages rep and rep2; two more managers; an analyst."""
    boss = user_svc.create_user(ctx, "boss", None, "manager", team="East")
    rep = user_svc.create_user(ctx, "rep", None, "sales", team="East")
    rep2 = user_svc.create_user(ctx, "rep2", None, "sales", team="East")
    m2 = user_svc.create_user(ctx, "m2", None, "manager", team="West")
    m3 = user_svc.create_user(ctx, "m3", None, "manager", team="West")
    rep.team.manager_id = boss.id
    ctx.session.commit()
    return {"boss": boss, "rep": rep, "rep2": rep2, "m2": m2, "m3": m3}


def workflow(ctx: Any, tiers: list[dict[str, Any]], **policy: Any) -> None:
    appr.create_policy(ctx, {"name": "big-win", "entity": "customer", "provider": "internal", "key_fields": ["credit_limit"],
                             "tiers": tiers, **policy})
    wf_svc.create_workflow(ctx, {
        "name": "lifecycle", "entity": "customer", "state_field": "stage",
        "states": [{"name": "lead"}, {"name": "prospect"}, {"name": "customer", "on_enter": {"level": "A"}}],
        "transitions": [{"action": "win", "from_state": "prospect", "to_state": "customer", "policy": "big-win"}]})


def prospect(ctx: Any, owner: Any, credit: str = "200000") -> Any:
    return customer_svc.create_customer(ctx, {"name": "Acme", "owner_id": owner.id, "stage": "prospect",
                                              "credit_limit": credit})


_sessions: list[Any] = []


@pytest.fixture(autouse=True)
def _close_sessions():
    yield
    while _sessions:
        _sessions.pop().close()


def fresh(rt: Any) -> Any:
    """A new session, closed after the test (an open one would block the wipe on PostgreSQL)."""
    session = rt.db.new_session()
    _sessions.append(session)
    return session


def act(rt: Any, user: Any) -> Any:
    """A context acting as ``user`` in its own session, as each API request has."""
    return rt.context(actor=user, source="api", session=fresh(rt))


def stage_of(rt: Any, customer_id: int) -> str:
    session = fresh(rt)
    try:
        return customer_svc.get_customer(rt.context(session=session), customer_id).stage
    finally:
        session.close()


MANAGER_OF_OWNER = {"kind": "manager_of", "value": "owner_id"}
BIG = {"field": "credit_limit", "op": "gt", "value": 100000}


def test_no_applicable_tier_means_no_approval(rt, ctx, team):
    workflow(ctx, [{"step": 1, "condition": BIG, "reviewers": [MANAGER_OF_OWNER]}])
    small = prospect(ctx, team["rep"], "5000")
    assert wf_svc.fire(act(rt, team["rep"]), "customer", small.id, "win")["status"] == "done"
    assert stage_of(rt, small.id) == "customer"


def test_two_tiers_in_step_order_the_owners_manager_then_a_quorum(rt, ctx, team):
    workflow(ctx, [{"step": 1, "condition": BIG, "reviewers": [MANAGER_OF_OWNER]},
                   {"step": 2, "reviewers": [{"kind": "role", "value": "manager"}], "quorum": 2},
                   {"step": 3, "condition": {"field": "credit_limit", "op": "gt", "value": 10**9},
                    "reviewers": [{"kind": "user", "value": "m2"}]}])
    acme = prospect(ctx, team["rep"])
    result = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win", comment="please")
    assert result["status"] == "pending_approval" and stage_of(rt, acme.id) == "prospect"
    request = ctx.session.get(ApprovalRequest, result["request_id"])
    assert request.steps == [1, 2] and request.current_step == 1  # tier 3's condition does not hold
    # step 1 is the owner's manager; step 2 every manager (boss, m2, m3)
    assert [(t.step, t.approver.username, t.status) for t in request.tasks] == [
        (1, "boss", "pending"), (2, "boss", "waiting"), (2, "m2", "waiting"), (2, "m3", "waiting")]
    assert [t.request_id for t in appr.inbox(act(rt, team["m2"]))] == []  # not yet their turn
    with pytest.raises(PermissionDenied):
        appr.decide(act(rt, team["m2"]), request.id, True)
    with pytest.raises(Conflict):  # one approval per record at a time
        wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")

    appr.decide(act(rt, team["boss"]), request.id, True, "ok from sales")
    assert [t.request_id for t in appr.inbox(act(rt, team["m2"]))] == [request.id]
    appr.decide(act(rt, team["m2"]), request.id, True)
    assert stage_of(rt, acme.id) == "prospect"  # quorum 2 of 3 not reached yet
    appr.decide(act(rt, team["boss"]), request.id, True)
    assert stage_of(rt, acme.id) == "customer"

    session = fresh(rt)
    stored = session.get(ApprovalRequest, request.id)
    assert stored.status == "approved"
    assert [(d.decision, d.actor_label, d.step) for d in stored.decisions] == [
        ("submitted", "rep", None), ("approved", "boss", 1), ("step_completed", "boss", 1), ("approved", "m2", 2),
        ("approved", "boss", 2)]
    assert [t.status for t in stored.tasks if t.step == 2] == ["approved", "approved", "skipped"]
    assert customer_svc.get_customer(rt.context(session=session), acme.id).level == "A"  # on_enter applied
    actions = [a.action for a in session.query(AuditLog).filter_by(entity="approval", entity_id=str(request.id))]
    assert actions == ["created", "decided", "decided", "decided", "updated"]
    transition = session.query(AuditLog).filter_by(entity="customer", entity_id=str(acme.id), action="updated").all()[-1]
    assert transition.data["approval_request_id"] == request.id and transition.changes["stage"] == ["prospect", "customer"]
    session.close()


def test_sequential_tier_gives_each_reviewer_a_turn(rt, ctx, team):
    workflow(ctx, [{"step": 1, "mode": "sequential", "quorum": 0,
                    "reviewers": [{"kind": "user", "value": "m2"}, {"kind": "user", "value": "m3"}]}])
    acme = prospect(ctx, team["rep"])
    request_id = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")["request_id"]
    assert [t.request_id for t in appr.inbox(act(rt, team["m3"]))] == []
    appr.decide(act(rt, team["m2"]), request_id, True)
    assert [t.request_id for t in appr.inbox(act(rt, team["m3"]))] == [request_id]
    assert stage_of(rt, acme.id) == "prospect"
    appr.decide(act(rt, team["m3"]), request_id, True)
    assert stage_of(rt, acme.id) == "customer"


def test_self_approval_is_not_allowed_by_default(rt, ctx, team):
    workflow(ctx, [{"step": 1, "reviewers": [{"kind": "user", "value": "rep"}]}])
    acme = prospect(ctx, team["rep"])
    with pytest.raises(ValidationError, match="Nobody can approve step 1"):
        wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")
    # the owner is left out even when someone else asks
    with pytest.raises(ValidationError):
        wf_svc.fire(act(rt, team["boss"]), "customer", acme.id, "win")
    assert stage_of(rt, acme.id) == "prospect"


def test_rejection_needs_a_comment_and_stops_the_transition(rt, ctx, team):
    workflow(ctx, [{"step": 1, "reviewers": [MANAGER_OF_OWNER]}, {"step": 2, "reviewers": [{"kind": "user", "value": "m2"}]}])
    acme = prospect(ctx, team["rep"])
    request_id = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")["request_id"]
    with pytest.raises(ValidationError) as err:
        appr.decide(act(rt, team["boss"]), request_id, False, "  ")
    assert "comment" in err.value.errors
    appr.decide(act(rt, team["boss"]), request_id, False, "credit too high")
    request = fresh(rt).get(ApprovalRequest, request_id)
    assert request.status == "rejected" and stage_of(rt, acme.id) == "prospect"
    assert [t.status for t in request.tasks] == ["rejected", "skipped"]
    with pytest.raises(Conflict):
        appr.decide(act(rt, team["m2"]), request_id, True)


def test_editing_a_key_field_restarts_the_review(rt, ctx, team):
    workflow(ctx, [{"step": 1, "condition": BIG, "reviewers": [MANAGER_OF_OWNER]}])
    acme = prospect(ctx, team["rep"])
    first = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")["request_id"]
    customer_svc.update_customer(act(rt, team["rep"]), acme.id, {"notes": "not a key field"})
    assert fresh(rt).get(ApprovalRequest, first).status == "pending"
    before = customer_svc.get_customer(act(rt, team["rep"]), acme.id).version
    after = customer_svc.update_customer(act(rt, team["rep"]), acme.id, {"credit_limit": "300000"}).version
    assert after == before + 1  # the restart happens in the same flush as the write
    session = fresh(rt)
    old = session.get(ApprovalRequest, first)
    assert old.status == "terminated" and old.decisions[-1].decision == "restarted"
    new = session.query(ApprovalRequest).filter(ApprovalRequest.id != first).one()
    assert new.status == "pending" and new.snapshot == {"credit_limit": "300000.00"} and new.requester_id == team["rep"].id
    session.close()
    # an edit that makes the approval unnecessary lets the transition happen
    customer_svc.update_customer(act(rt, team["rep"]), acme.id, {"credit_limit": "1000"})
    assert stage_of(rt, acme.id) == "customer"


def test_withdraw_and_revoke_run_the_compensating_action(rt, ctx, team):
    workflow(ctx, [{"step": 1, "reviewers": [MANAGER_OF_OWNER]}], compensation="test.compensate")
    acme = prospect(ctx, team["rep"])
    first = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")["request_id"]
    with pytest.raises(NotFound):  # someone else's request is not even visible
        appr.withdraw(act(rt, team["rep2"]), first)
    appr.withdraw(act(rt, team["rep"]), first, "wrong customer")
    assert compensated == [(acme.id, "withdrawn")]
    second = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")["request_id"]
    appr.decide(act(rt, team["boss"]), second, True)
    with pytest.raises(PermissionDenied):
        appr.revoke(act(rt, team["boss"]), second, "oops")  # needs approval.manage
    root = user_svc.create_user(ctx, "root", None, "admin")
    with pytest.raises(ValidationError):
        appr.revoke(act(rt, root), second, "")
    appr.revoke(act(rt, root), second, "fraud suspected")
    assert compensated == [(acme.id, "withdrawn"), (acme.id, "revoked")]
    decisions = [d.decision for d in fresh(rt).query(ApprovalDecision).filter_by(request_id=second)]
    assert decisions == ["submitted", "approved", "revoked", "compensated"]


def test_reminders_then_escalation_then_timeout_rejection(rt, ctx, team):
    workflow(ctx, [{"step": 1, "reviewers": [MANAGER_OF_OWNER], "remind_after": 3600, "timeout_after": 86400,
                    "escalate_to": {"kind": "user", "value": "m2"}}])
    acme = prospect(ctx, team["rep"])
    request_id = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")["request_id"]
    job_ctx = rt.context(source="scheduler", session=fresh(rt))
    assert appr.remind_and_escalate(job_ctx) == {"reminded": 0, "escalated": 0, "rejected": 0}
    later = utcnow() + dt.timedelta(hours=2)
    assert appr.remind_and_escalate(job_ctx, later)["reminded"] == 1
    assert appr.remind_and_escalate(job_ctx, later)["reminded"] == 0  # once
    much_later = utcnow() + dt.timedelta(days=2)
    assert appr.remind_and_escalate(job_ctx, much_later)["escalated"] == 1
    assert [t.request_id for t in appr.inbox(act(rt, team["m2"]))] == [request_id]
    appr.decide(act(rt, team["m2"]), request_id, True)
    assert stage_of(rt, acme.id) == "customer"
    job_ctx.session.close()


def test_timeout_can_reject(rt, ctx, team):
    workflow(ctx, [{"step": 1, "reviewers": [MANAGER_OF_OWNER], "timeout_after": 60, "escalate_to": {"kind": "reject"}}])
    acme = prospect(ctx, team["rep"])
    request_id = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")["request_id"]
    job_ctx = rt.context(source="scheduler", session=fresh(rt))
    assert appr.remind_and_escalate(job_ctx, utcnow() + dt.timedelta(minutes=5))["rejected"] == 1
    assert fresh(rt).get(ApprovalRequest, request_id).status == "rejected"
    job_ctx.session.close()


def test_policy_validation(ctx):
    with pytest.raises(ValidationError) as err:
        appr.create_policy(ctx, {"name": "p", "entity": "customer", "provider": "carrier-pigeon", "compensation": "nope",
                                 "tiers": [{"step": 1, "reviewers": [{"kind": "astrologer"}], "quorum": -1,
                                            "condition": {"field": "x", "op": "?"}},
                                           {"step": 1, "reviewers": [], "mode": "random"}]})
    errors = err.value.errors
    for key in ("provider", "compensation", "tiers.0.reviewers.0", "tiers.0.quorum", "tiers.0.condition",
                "tiers.1.step", "tiers.1.reviewers", "tiers.1.mode"):
        assert key in errors, key


def test_inbox_and_decisions_through_the_api(client, rt, ctx, team, make_user):
    workflow(ctx, [{"step": 1, "reviewers": [MANAGER_OF_OWNER]}])
    acme = prospect(ctx, team["rep"])
    tokens = {name: "Bearer " + user_svc.create_token(ctx, team[name])[1] for name in ("rep", "boss", "m2")}
    h = {name: {"Authorization": t} for name, t in tokens.items()}
    r = client.post(f"/api/v1/workflows/records/customer/{acme.id}/fire", json={"action": "win"}, headers=h["rep"])
    assert r.status_code == 202 and r.json["status"] == "pending_approval"
    request_id = r.json["request_id"]
    inbox = client.get("/api/v1/approvals/inbox", headers=h["boss"]).json
    assert [(i["request_id"], i["request"]["entity"], i["request"]["entity_id"]) for i in inbox] == [
        (request_id, "customer", acme.id)]
    assert client.get("/api/v1/approvals/inbox", headers=h["m2"]).json == []
    assert client.get(f"/api/v1/approvals/{request_id}", headers=h["m2"]).status_code == 404  # not theirs
    assert client.get("/api/v1/approvals", headers=h["rep"]).json["total"] == 1
    assert client.post(f"/api/v1/approvals/{request_id}/approve", json={}, headers=h["rep"]).status_code == 403
    r = client.post(f"/api/v1/approvals/{request_id}/reject", json={}, headers=h["boss"])
    assert r.status_code == 422 and "comment" in r.json["errors"]
    r = client.post(f"/api/v1/approvals/{request_id}/approve", json={"comment": "fine"}, headers=h["boss"])
    assert r.status_code == 200 and r.json["status"] == "approved"
    assert [d["decision"] for d in r.json["decisions"]] == ["submitted", "approved"]
    assert r.json["decisions"][1]["comment"] == "fine" and r.json["decisions"][1]["source"] == "api"
    assert stage_of(rt, acme.id) == "customer"
    assert client.post(f"/api/v1/approvals/{request_id}/approve", json={}, headers=h["boss"]).status_code == 409


def test_internal_approvals_need_no_oa_adapter(rt, ctx, team):
    """The OA adapter is not loaded here: ``internal`` is the core's own path, and a policy naming
    an OA provider is refused with the providers that are loaded."""
    assert "oa" not in rt.registry.outbox_handlers and "approvals.inbox" not in rt.registry.jobs
    with pytest.raises(ValidationError) as refused:
        appr.create_policy(ctx, {"name": "via-oa", "entity": "customer", "provider": "webhook",
                                 "tiers": [{"reviewers": [MANAGER_OF_OWNER]}]})
    assert "webhook" in refused.value.errors["provider"][0]
    workflow(ctx, [{"step": 1, "reviewers": [MANAGER_OF_OWNER]}])
    acme = prospect(ctx, team["rep"])
    request_id = wf_svc.fire(act(rt, team["rep"]), "customer", acme.id, "win")["request_id"]
    appr.decide(act(rt, team["boss"]), request_id, True)
    assert stage_of(rt, acme.id) == "customer"
    assert fresh(rt).query(OutboxMessage).filter(OutboxMessage.topic.in_(appr.PROVIDER_TOPICS)).count() == 0
