"""Leads: capture (web form, import, API) with a source channel, and qualification, which turns a
lead into customer + contact + opportunity in one transaction, reusing an existing customer."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select

from crmcore.errors import Conflict, CRMError, NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Contact, Customer
from crmcore.normalize import LIKE_ESCAPE, company_key, fold, like_terms, normalize_email, normalize_phone
from crmcore.services import access as core_access
from crmcore.services.contacts import create_contact
from crmcore.services.customers import check_version, create_customer, live_customer
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.runtime import ServiceContext
from crmcore.services.validation import load

from ..models import Lead
from . import access
from ..schemas.leads import LeadSchema
from .common import INVALID, check_user, moment, one_of
from .opportunities import create_opportunity
from .status_words import status_word

FIELDS = ("name", "company", "contact_name", "title", "phone", "email", "wechat", "source_channel", "campaign",
          "message", "estimated_amount", "currency", "owner_id", "status", "data")
OPEN = ("new", "working")
_SCHEMA = LeadSchema()
# Why an existing customer matches a lead (``matched_by``), in the reader's words for messages.
MATCH_REASONS = {"same phone number": _("same phone number"), "same e-mail address": _("same e-mail address"),
                 "same company name": _("same company name")}


def _scope(ctx: ServiceContext, stmt: Any) -> Any:
    """Reps see their own leads; managers their team's and the unassigned ones; others all."""
    cond = access.owner_condition(ctx, Lead.owner_id)
    if cond is None:
        return stmt
    if ctx.scope == "team":
        cond = or_(cond, Lead.owner_id.is_(None))
    return stmt.where(cond)


def get_lead(ctx: ServiceContext, lead_id: int, *, permission: str = "sales.lead.read") -> Lead:
    ctx.require(permission)
    lead = ctx.session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(_("Lead %(id)s does not exist.", id=lead_id))
    if not (lead.owner_id is None and ctx.scope in ("team", "all")):
        access.check_owned(ctx, lead.owner_id, "lead")
    return lead


def list_leads(ctx: ServiceContext, *, status: str | None = None, source_channel: str | None = None,
               owner_id: int | None = None, q: str | None = None, page: int = 1,
               page_size: int = 25) -> tuple[list[Lead], int]:
    ctx.require("sales.lead.read")
    stmt = _scope(ctx, select(Lead))
    if status:
        stmt = stmt.where(Lead.status == status)
    if source_channel:
        stmt = stmt.where(Lead.source_channel == source_channel)
    if owner_id is not None:
        stmt = stmt.where(Lead.owner_id == owner_id)
    if q:
        stmt = stmt.where(or_(*[c for like in like_terms(q) for c in (
            func.lower(Lead.name).like(like, escape=LIKE_ESCAPE), func.lower(Lead.company).like(like, escape=LIKE_ESCAPE),
            func.lower(Lead.email).like(like, escape=LIKE_ESCAPE), Lead.phone.like(like, escape=LIKE_ESCAPE))]))
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Lead.created_at.desc(), Lead.id.desc())
                                .offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def validate_lead(ctx: ServiceContext, data: dict[str, Any], existing: Lead | None) -> dict[str, Any]:
    """A lead's input checked and converted, the one validation every path shares (API, admin, import,
    web form): ``LeadSchema`` (lengths from the model; all fields for a new lead, those given for
    ``existing``), then a way to reach a new lead, a phone number of the region, an open status (a lead
    is qualified or disqualified only through those actions) and an owner that exists."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("phone") and normalize_phone(values["phone"], ctx.settings["DEFAULT_REGION"]) is None:
            errors["phone"] = [_("Not a valid phone number.")]
        if existing is None and not any(values.get(k) or data.get(k) for k in ("phone", "email", "wechat")):
            errors["phone"] = [_("Give at least a phone number, an e-mail address or a WeChat id to reach the lead.")]
        if "status" in values:
            one_of(values["status"], OPEN, "status", errors)
        check_user(ctx, values.get("owner_id"), "owner_id", errors)
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=INVALID["lead"], check=check)


def create_lead(ctx: ServiceContext, data: dict[str, Any], *, source_channel: str | None = None) -> Lead:
    """Capture a lead. ``source_channel`` (web, import, api, ...) defaults to how it arrived."""
    ctx.require("sales.lead.write")
    data = dict(data)
    data.setdefault("source_channel", source_channel or "api")
    data = validate_lead(ctx, data, None)
    if "owner_id" not in data and ctx.actor is not None and ctx.scope == "own":
        data["owner_id"] = ctx.actor.id
    if data.get("owner_id") is not None:
        access.may_assign(ctx, data["owner_id"], "lead")
    with unit_of_work(ctx):
        lead = Lead(status="new", data={}, currency=ctx.settings["DEFAULT_CURRENCY"])
        changes = apply_changes(lead, data, FIELDS)
        if data.get("referral_code"):  # recorded by a referral plugin's crm_before_save (social)
            changes["referral_code"] = [None, data["referral_code"]]
        ctx.session.add(lead)
        ctx.hook.crm_before_save(ctx=ctx, entity="lead", obj=lead, changes=changes, created=True)
        ctx.session.flush()
        record_change(ctx, "lead", "created", lead.id, changes, event_name="sales.lead.created",
                      data={"source_channel": lead.source_channel})
    return lead


def update_lead(ctx: ServiceContext, lead_id: int, data: dict[str, Any], *, expected_version: int | None = None,
                if_match: bool = False) -> Lead:
    lead = get_lead(ctx, lead_id, permission="sales.lead.write")
    check_version(lead, expected_version, if_match)
    if lead.status not in OPEN:
        raise Conflict(_("The lead is %(status)s; it can no longer be changed.", status=status_word(lead.status)))
    data = validate_lead(ctx, data, lead)
    if "owner_id" in data and data["owner_id"] != lead.owner_id:
        access.may_assign(ctx, data["owner_id"], "lead")
    with unit_of_work(ctx):
        changes = apply_changes(lead, data, FIELDS)
        if changes:
            ctx.hook.crm_before_save(ctx=ctx, entity="lead", obj=lead, changes=changes, created=False)
            ctx.session.flush()
            record_change(ctx, "lead", "updated", lead.id, changes, event_name="sales.lead.updated")
    return lead


def disqualify_lead(ctx: ServiceContext, lead_id: int, reason: str) -> Lead:
    lead = get_lead(ctx, lead_id, permission="sales.lead.write")
    if lead.status not in OPEN:
        raise Conflict(_("The lead is already %(status)s.", status=status_word(lead.status)))
    if not (reason or "").strip():
        raise ValidationError(_("Say why the lead is disqualified."), errors={"reason": [_("Required.")]})
    with unit_of_work(ctx):
        changes = apply_changes(lead, {"status": "disqualified", "disqualified_reason": reason.strip()},
                                ("status", "disqualified_reason"))
        ctx.session.flush()
        record_change(ctx, "lead", "updated", lead.id, changes, event_name="sales.lead.disqualified")
    return lead


def matching_customers(ctx: ServiceContext, lead: Lead) -> list[tuple[int, str]]:
    """Existing customers (all of them, not only the visible ones) that are probably this lead:
    same phone or e-mail (customer or a contact), or the same company name. Best first."""
    region = ctx.settings["DEFAULT_REGION"]
    phone, email = normalize_phone(lead.phone, region), normalize_email(lead.email)
    live = select(Customer.id).where(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))
    found: list[tuple[int, str]] = []

    def add(stmt: Any, reason: str) -> None:
        for cid in ctx.session.scalars(stmt.order_by(Customer.id)):
            if cid not in {c for c, _ in found}:
                found.append((cid, reason))

    if phone:
        by_contact = select(Contact.customer_id).where(or_(Contact.phone_normalized == phone,
                                                           Contact.mobile_normalized == phone))
        add(live.where(or_(Customer.phone_normalized == phone, Customer.id.in_(by_contact))), "same phone number")
    if email:
        by_contact = select(Contact.customer_id).where(Contact.email_normalized == email)
        add(live.where(or_(Customer.email_normalized == email, Customer.id.in_(by_contact))), "same e-mail address")
    key = company_key(lead.company) if lead.company else ""
    if key:
        add(live.where(Customer.name_key == key), "same company name")
    return found


def _find_contact(ctx: ServiceContext, customer: Customer, lead: Lead, name: str) -> Contact | None:
    region = ctx.settings["DEFAULT_REGION"]
    phone, email = normalize_phone(lead.phone, region), normalize_email(lead.email)
    for contact in customer.contacts:
        if phone and phone in (contact.phone_normalized, contact.mobile_normalized):
            return contact
        if email and email == contact.email_normalized:
            return contact
        if fold(contact.name).casefold() == fold(name).casefold():
            return contact
    return None


def qualify_lead(ctx: ServiceContext, lead_id: int, data: dict[str, Any] | None = None, *,
                 at: dt.datetime | None = None) -> dict[str, Any]:
    """Turn a lead into a customer, a contact and an opportunity, all or nothing.

    The customer is ``data["customer_id"]`` when given, else an existing customer with the same
    phone, e-mail or company name (a 409 names it when it is outside the actor's scope), else a
    new one. ``data`` may set the opportunity's ``name``, ``amount``, ``currency``,
    ``expected_close_date``, ``stage_id``; ``create_opportunity: false`` skips it.
    """
    data = dict(data or {})
    lead = get_lead(ctx, lead_id, permission="sales.lead.write")
    ctx.require("sales.opportunity.write")
    if lead.status not in OPEN:
        raise Conflict(_("The lead is already %(status)s.", status=status_word(lead.status)))
    owner_id = lead.owner_id or getattr(ctx.actor, "id", None)
    customer_created = False
    with unit_of_work(ctx):
        if data.get("customer_id") is not None:
            customer = live_customer(ctx, data["customer_id"], permission="customer.write")  # deleted: 422
            reason = "chosen"
        else:
            matches = matching_customers(ctx, lead)
            customer, reason = None, None
            if matches:
                cid, reason = matches[0]
                candidate = ctx.session.get(Customer, cid)
                if not core_access.can_access_customer(ctx, candidate):
                    why = MATCH_REASONS.get(reason, reason)
                    raise Conflict(_("An existing customer (%(reason)s) matches this lead but belongs to someone "
                                     "outside your scope; ask a manager to qualify the lead.", reason=why),
                                   errors={"customer_id": [_("An existing customer outside your scope: %(reason)s.",
                                                             reason=why)]})
                customer = candidate
            if customer is None:
                customer = create_customer(ctx, {
                    "name": lead.company or lead.name, "kind": "organization" if lead.company else "person",
                    "stage": "prospect", "source_channel": lead.source_channel, "phone": lead.phone,
                    "email": lead.email, "owner_id": owner_id, "currency": lead.currency})
                customer_created = True
        contact_name = lead.contact_name or lead.name
        contact = _find_contact(ctx, customer, lead, contact_name)
        if contact is None:
            contact = create_contact(ctx, customer.id, {"name": contact_name, "title": lead.title,
                                                        "phone": lead.phone, "email": lead.email,
                                                        "wechat": lead.wechat})
        opp = None
        if data.get("create_opportunity", True):
            opp_data = {"name": data.get("name") or f"{customer.name}: {lead.campaign or lead.source_channel}",
                        "customer_id": customer.id, "contact_id": contact.id, "owner_id": owner_id,
                        "amount": data.get("amount", lead.estimated_amount or 0),
                        "currency": data.get("currency") or lead.currency, "source_channel": lead.source_channel,
                        "lead_id": lead.id}
            for key in ("expected_close_date", "stage_id", "probability"):
                if data.get(key) is not None:
                    opp_data[key] = data[key]
            opp = create_opportunity(ctx, opp_data, at=at)
        changes = apply_changes(lead, {"status": "qualified", "customer_id": customer.id, "contact_id": contact.id,
                                       "opportunity_id": opp.id if opp else None, "owner_id": owner_id,
                                       "qualified_at": moment(at)},
                                ("status", "customer_id", "contact_id", "opportunity_id", "owner_id", "qualified_at"))
        ctx.session.flush()
        record_change(ctx, "lead", "updated", lead.id, changes, event_name="sales.lead.qualified",
                      data={"customer_created": customer_created, "matched_by": reason})
    return {"lead": lead, "customer_id": customer.id, "contact_id": contact.id,
            "opportunity_id": opp.id if opp else None, "customer_created": customer_created, "matched_by": reason}


@dataclass
class LeadRowResult:
    index: int
    status: str  # created, rejected
    id: int | None = None
    errors: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "status": self.status, "id": self.id, "errors": self.errors}


def import_leads(ctx: ServiceContext, rows: list[dict[str, Any]], *, source_channel: str = "import") -> list[LeadRowResult]:
    """Create one lead per row, each in its own transaction; a bad row is rejected alone."""
    ctx.require("sales.lead.import")
    out = []
    for index, raw in enumerate(rows):
        try:
            if not isinstance(raw, dict):
                raise ValidationError(_("Each row must be an object."), errors={"row": [_("Not an object.")]})
            unknown = set(raw) - set(FIELDS)
            if unknown:
                raise ValidationError(_("Unknown columns."), errors={k: [_("Unknown field.")] for k in sorted(unknown)})
            row = {k: v for k, v in raw.items() if v not in ("", None)}
            lead = create_lead(ctx, row, source_channel=source_channel)
            out.append(LeadRowResult(index, "created", lead.id))
        except CRMError as exc:
            ctx.session.rollback()
            out.append(LeadRowResult(index, "rejected", errors=exc.errors or {"row": [exc.message]}))
    return out
