"""Quotes in the workflow engine: the quote entity, discount predicates, the approval policy hook-up.

When an active approval policy for ``quote`` / ``submit`` exists, it decides whether a
submitted quote needs approval (``crm_sales_discount_approval``) and opens the approval request
in the submission's transaction; its outcome approves, rejects or resets the quote
(``crm_approval_completed``). Without such a policy the sales threshold setting applies.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from crmcore.contracts_workflow import Predicate, RecordSummary, WorkflowAction, WorkflowEntity
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.services import approvals
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext

from ..models import Quote

ENTITY = "quote"
ACTION = "submit"


def _load(ctx: ServiceContext, quote_id: int) -> Quote:
    from .quotes import get_quote

    return get_quote(ctx, quote_id)


def describe(ctx: ServiceContext, quote: Quote) -> RecordSummary:
    """What the approval inbox shows of a quote: number, customer, total and its largest discount."""
    return RecordSummary(title=quote.number, customer=quote.customer.name if quote.customer else None,
                         amount=quote.total, currency=quote.currency, discount_percent=quote.largest_discount_percent)


def entities() -> list[WorkflowEntity]:
    return [WorkflowEntity(ENTITY, Quote, _load, "owner_id", _("Quote"),
                           ("status", "total", "currency", "discount_percent", "effective_discount_percent",
                            "max_line_discount_percent", "customer.name", "customer.owner_id", "owner_id"),
                           "sales.quote.write", describe=describe, admin_endpoint="sales_quote")]


def _percent_args(args: dict[str, Any]) -> list[str]:
    try:
        Decimal(str(args.get("percent")))
    except (InvalidOperation, ValueError):
        return ["give 'percent' as a number, e.g. {\"percent\": 15}"]
    return []


def discount_over(ctx: ServiceContext, quote: Any, args: dict[str, Any]) -> bool:
    """The largest discount of the quote (overall or any line) is above ``args["percent"]``."""
    limit = Decimal(str(args["percent"]))
    return quote.largest_discount_percent > limit


def predicates() -> list[Predicate]:
    return [Predicate("sales.quote.discount_over", discount_over,
                      _("The quote's largest discount (overall or a line) is above a percent"), _percent_args)]


def back_to_draft(ctx: ServiceContext, quote: Any, params: dict[str, Any]) -> None:
    """Compensation: a withdrawn or revoked approval puts the quote back to draft."""
    if quote.status in ("pending_approval", "approved"):
        before = quote.status
        quote.status, quote.requires_approval = "draft", False
        ctx.session.flush()
        record_change(ctx, "quote", "updated", quote.id, {"status": [before, "draft"]},
                      event_name="sales.quote.reset", data={"number": quote.number, **params})


def actions() -> list[WorkflowAction]:
    return [WorkflowAction("sales.quote.back_to_draft", back_to_draft, _("Put the quote back to draft"), (ENTITY,))]


def needs_approval(ctx: ServiceContext, quote: Any) -> bool | None:
    """Answer from the active ``quote``/``submit`` policy and open its request; None without a policy."""
    policy = approvals.policy_for(ctx, ENTITY, ACTION)
    if policy is None:
        return None
    request = approvals.start(ctx, policy, ENTITY, quote, action=ACTION, to_state="approved")
    return request is not None


def apply_outcome(ctx: ServiceContext, request: Any, quote: Any) -> None:
    """Approve, reject or reset the quote when its approval ends."""
    from .quotes import approve_quote, reject_quote

    if request.entity != ENTITY or quote is None:
        return
    system = ctx.runtime.context(actor=None, source=ctx.source, session=ctx.session)
    note = f"#{request.id}" + (f": {request.decisions[-1].comment}" if request.decisions and request.decisions[-1].comment else "")
    if request.status == "approved" and quote.status == "pending_approval":
        approve_quote(system, quote.id, note)
    elif request.status == "rejected" and quote.status == "pending_approval":
        reject_quote(system, quote.id, note)
    elif request.status in ("withdrawn", "terminated") and not request.policy.compensation:
        back_to_draft(system, quote, {"request_id": request.id, "status": request.status})


def close_when_decided_elsewhere(ctx: ServiceContext, entity: str, entity_id: Any, changes: dict[str, Any]) -> None:
    """A quote that left ``pending_approval`` outside its approval (the sales approve/reject
    endpoints, a cancellation) ends the approval (``terminated``) so no stale task remains."""
    status = (changes or {}).get("status")
    if entity != ENTITY or not status or status[0] != "pending_approval":
        return
    quote = ctx.session.get(Quote, entity_id)
    if quote is not None and quote.status == "pending_approval":
        return  # back under review (an edit ended the old review and resubmitted): the open request is the new one
    with unit_of_work(ctx):
        request = approvals.open_request(ctx, ENTITY, entity_id)
        if request is not None:
            approvals.terminate(ctx, request, "decided_elsewhere", f"quote {status[0]} -> {status[1]}")
