"""After-sales follow-ups: rules schedule contacts at set intervals after an order or a resolved
ticket; the due list; recording the outcome (which also lands on the customer's timeline)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator, Sequence

from sqlalchemy import select

from crmcore.db import utcnow
from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change, record_changes
from crmcore.i18n import _, title_data
from crmcore.models import Customer
from crmcore.services.access import scope_customers
from crmcore.services.interactions import log_interaction
from crmcore.services.unit import unit_of_work
from crmcore.services.validation import load
from crmcore.runtime import ServiceContext

from ..models import FollowUp, FollowUpRule, Ticket
from ..schemas import FollowUpOutcomeSchema, FollowUpRuleSchema

OUTCOMES = ("done", "unreachable", "cancelled")
_RULE, _OUTCOME = FollowUpRuleSchema(), FollowUpOutcomeSchema()


def _schedule(ctx: ServiceContext, trigger: str, source: str, customer_id: int, start: dt.datetime, *,
              ticket: Ticket | None = None, order_number: str | None = None) -> list[FollowUp]:
    created = []
    rules = ctx.session.scalars(select(FollowUpRule).where(FollowUpRule.active.is_(True),
                                                           FollowUpRule.trigger == trigger).order_by(FollowUpRule.id))
    for rule in rules:
        for step, days in enumerate(rule.offsets_days or []):
            exists = ctx.session.scalar(select(FollowUp.id).where(FollowUp.rule_id == rule.id, FollowUp.source == source,
                                                                  FollowUp.step == step))
            if exists is not None:
                continue
            item = FollowUp(rule_id=rule.id, source=source, step=step, customer_id=customer_id,
                            ticket_id=ticket.id if ticket else None, order_number=order_number,
                            due_at=start + dt.timedelta(days=float(days)),
                            assignee_id=ticket.assignee_id if ticket else None, state="due")
            ctx.session.add(item)
            ctx.session.flush()
            record_change(ctx, "service_followup", "created", item.id, {"due_at": [None, item.due_at]},
                          data={"customer_id": customer_id, "source": source, "step": step},
                          event_name="service.followup.scheduled")
            created.append(item)
    return created


def schedule_for_ticket(ctx: ServiceContext, ticket: Ticket, now: dt.datetime) -> list[FollowUp]:
    """Follow-ups of the ``ticket`` rules for a just-resolved ticket (inside its transaction)."""
    if ticket.customer_id is None:
        return []
    return _schedule(ctx, "ticket", f"ticket:{ticket.id}", ticket.customer_id, now, ticket=ticket)


def schedule_for_order(ctx: ServiceContext, order_number: str, customer_id: int, start: dt.datetime | None = None) -> list[FollowUp]:
    """Follow-ups of the ``order`` rules for an order (idempotent)."""
    return schedule_for_orders(ctx, [(order_number, customer_id, start or utcnow())])


def schedule_for_orders(ctx: ServiceContext, orders: Sequence[tuple[str, int, dt.datetime]]) -> list[FollowUp]:
    """Follow-ups of the ``order`` rules for orders ``(number, customer id, start)`` (called with the
    ``sales.order.created`` events of one commit, e.g. a bulk import's batch; idempotent): the rules, the
    customers and the follow-ups scheduled already are looked up once for all of them."""
    rules = list(ctx.session.scalars(select(FollowUpRule).where(
        FollowUpRule.active.is_(True), FollowUpRule.trigger == "order").order_by(FollowUpRule.id)))
    if not rules or not orders:
        return []  # no rule for orders: nothing to look at
    known: set[int] = set()
    for part in _parts(list({customer_id for _n, customer_id, _s in orders})):
        known.update(ctx.session.scalars(select(Customer.id).where(Customer.id.in_(part))))
    sources = [f"order:{number}" for number, customer_id, _s in orders if customer_id in known]
    done: set[tuple[int, str, int]] = set()
    for part in _parts(list(dict.fromkeys(sources))):
        done.update((r, s, n) for r, s, n in ctx.session.execute(select(
            FollowUp.rule_id, FollowUp.source, FollowUp.step).where(FollowUp.source.in_(part))))
    created: list[tuple[FollowUp, int]] = []
    with unit_of_work(ctx):
        for number, customer_id, start in orders:
            if customer_id not in known:
                continue
            source = f"order:{number}"
            for rule in rules:
                for step, days in enumerate(rule.offsets_days or []):
                    if (rule.id, source, step) in done:
                        continue
                    done.add((rule.id, source, step))
                    item = FollowUp(rule_id=rule.id, source=source, step=step, customer_id=customer_id,
                                    order_number=number, due_at=start + dt.timedelta(days=float(days)), state="due")
                    ctx.session.add(item)
                    created.append((item, step))
        if created:
            ctx.session.flush()
            record_changes(ctx, [("service_followup", "created", item.id, {"due_at": [None, item.due_at]},
                                  {"customer_id": item.customer_id, "source": item.source, "step": step},
                                  "service.followup.scheduled") for item, step in created])
    return [item for item, _step in created]


def _parts(items: list[Any], size: int = 1000) -> Iterator[list[Any]]:
    """``items`` in lists of ``size``: under every database's limit on bound parameters in an IN list."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def due_list(ctx: ServiceContext, *, before: dt.datetime | None = None, assignee_id: int | None = None,
             state: str = "due", limit: int = 200) -> list[FollowUp]:
    """Follow-ups due before ``before`` (default now) for customers in the actor's scope, oldest first."""
    ctx.require("service.followup.read")
    stmt = select(FollowUp).join(Customer, Customer.id == FollowUp.customer_id).where(
        FollowUp.state == state, FollowUp.due_at <= (before or utcnow()))
    stmt = scope_customers(ctx, stmt)
    if assignee_id is not None:
        stmt = stmt.where(FollowUp.assignee_id == assignee_id)
    return list(ctx.session.scalars(stmt.order_by(FollowUp.due_at, FollowUp.id).limit(limit)))


def record_outcome(ctx: ServiceContext, followup_id: int, outcome: str, notes: str | None = None,
                   now: dt.datetime | None = None) -> FollowUp:
    """Close a follow-up as done, unreachable or cancelled, with what the customer said."""
    ctx.require("service.followup.write")
    item = ctx.session.scalar(scope_customers(ctx, select(FollowUp).join(Customer, Customer.id == FollowUp.customer_id)
                                              .where(FollowUp.id == followup_id)))
    if item is None:
        raise NotFound(_("No such follow-up."))
    given = load(_OUTCOME, {k: v for k, v in (("outcome", outcome), ("notes", notes)) if v is not None}, partial=False,
                 message=_("The follow-up outcome is not valid."))
    outcome, notes = given["outcome"], given.get("notes")
    if item.state != "due":
        raise ValidationError(_("This follow-up is already closed."))
    now = now or utcnow()
    with unit_of_work(ctx):
        item.state, item.outcome, item.done_at = outcome, notes, now
        ctx.session.flush()
        record_change(ctx, "service_followup", "completed", item.id, {"state": ["due", outcome]},
                      data={"customer_id": item.customer_id}, event_name="service.followup.completed")
        if outcome == "done":
            actor = ctx if ctx.can("interaction.write") else ctx.runtime.context(session=ctx.session,
                                                                                 source="plugin:service")
            log_interaction(actor, item.customer_id, {
                "channel": "phone", "direction": "outbound", "subject": str(_("After-sales follow-up")),
                "body": item.outcome, "entity_type": "service_followup", "entity_id": str(item.id),
                "source": "service", "data": title_data(_("After-sales follow-up"))})
    return item


def validate_rule(ctx: ServiceContext, data: dict[str, Any], existing: FollowUpRule | None) -> dict[str, Any]:
    """A follow-up rule's input checked by ``FollowUpRuleSchema`` (the name's length, triggers and channels
    from the model, at least one day, none negative): the one validation of the API and the admin."""
    return load(_RULE, data, partial=existing is not None, message=_("The follow-up rule is not valid."))


def save_rule(ctx: ServiceContext, data: dict[str, Any], rule_id: int | None = None) -> FollowUpRule:
    """Create or change a follow-up rule: ``trigger`` order or ticket, ``offsets_days`` e.g. [3, 30, 90]."""
    ctx.require("service.config.manage")
    rule = ctx.session.get(FollowUpRule, rule_id) if rule_id else FollowUpRule(active=True)
    if rule is None:
        raise NotFound(_("No such follow-up rule."))
    data = validate_rule(ctx, data, rule if rule_id else None)
    with unit_of_work(ctx):
        changes = {}
        for key in ("name", "trigger", "offsets_days", "channel", "active"):
            if key in data and getattr(rule, key) != data[key]:
                changes[key] = [getattr(rule, key), data[key]]
                setattr(rule, key, data[key])
        if rule_id is None:
            ctx.session.add(rule)
        ctx.session.flush()
        record_change(ctx, "service_followup_rule", "updated" if rule_id else "created", rule.id, changes)
    return rule

