"""Identity resolution: find probable duplicate customers and merge them, reversibly."""
from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any, Collection, TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from ..contracts import DuplicateCandidate, Event, MovedRows, RemovedRows
from ..errors import Conflict, NotFound, ValidationError
from ..events import audit, emit, jsonable, record_change
from ..models import AuditLog, Contact, Customer, ExternalRef
from . import access, identities
from ..normalize import LIKE_ESCAPE, escape_like
from .merge_rows import move_back, move_rows, restore
from .customers import FIELDS, _visible, derive_fields, get_customer, refresh_completeness
from .unit import unit_of_work
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

NAME_SIMILARITY = 0.85
SIMILAR_WINDOW = 500  # customers sharing the name's first two characters compared for a similar name
FILL_FIELDS = tuple(f for f in FIELDS if f not in ("code", "name", "owner_id", "stage", "currency"))
CHOOSABLE = tuple(f for f in FIELDS if f != "code")  # fields whose value a merge may take from the other customer


def _combine(found: dict[int, DuplicateCandidate], cand: DuplicateCandidate) -> None:
    have = found.get(cand.customer_id)
    if have is None:
        found[cand.customer_id] = DuplicateCandidate(cand.customer_id, cand.score, list(cand.reasons))
        return
    have.score = 1 - (1 - have.score) * (1 - cand.score)
    have.reasons += [r for r in cand.reasons if r not in have.reasons]


def default_candidates(ctx: ServiceContext, customer: Customer, limit: int) -> list[DuplicateCandidate]:
    """Same normalised phone or e-mail (customer or contacts), same or similar company name."""
    found: dict[int, DuplicateCandidate] = {}
    base = access.scope_customers(ctx, _visible(select(Customer.id)).where(Customer.id != customer.id))

    phones = {customer.phone_normalized} | {p for c in customer.contacts for p in (c.phone_normalized, c.mobile_normalized)}
    phones.discard(None)
    emails = {customer.email_normalized} | {c.email_normalized for c in customer.contacts}
    emails.discard(None)
    if phones:
        by_contact = select(Contact.customer_id).where(
            or_(Contact.phone_normalized.in_(phones), Contact.mobile_normalized.in_(phones)))
        for cid in ctx.session.scalars(base.where(or_(Customer.phone_normalized.in_(phones), Customer.id.in_(by_contact)))):
            _combine(found, DuplicateCandidate(cid, 0.9, [str(_("same phone number"))]))
    if emails:
        by_contact = select(Contact.customer_id).where(Contact.email_normalized.in_(emails))
        for cid in ctx.session.scalars(base.where(or_(Customer.email_normalized.in_(emails), Customer.id.in_(by_contact)))):
            _combine(found, DuplicateCandidate(cid, 0.9, [str(_("same e-mail address"))]))
    for cid, platforms in identities.customers_sharing(ctx, identities.identity_keys(ctx, customer)).items():
        if cid != customer.id:  # visibility: checked with every hook's candidates in _candidates
            for platform in sorted(platforms):
                _combine(found, DuplicateCandidate(cid, 0.95, [str(_("same %(identity)s", identity=identities.label(platform)))]))
    key = customer.name_key or ""
    if key:
        for cid in ctx.session.scalars(base.where(Customer.name_key == key)):
            _combine(found, DuplicateCandidate(cid, 0.8, [str(_("same name"))]))
        if len(key) >= 2:
            rows = ctx.session.execute(
                select(Customer.id, Customer.name_key).where(
                    Customer.id.in_(base), Customer.name_key != key,
                    Customer.name_key.like(escape_like(key[:2]) + "%", escape=LIKE_ESCAPE)).limit(SIMILAR_WINDOW))
            for cid, other in rows:
                ratio = SequenceMatcher(None, key, other or "").ratio()
                if ratio >= NAME_SIMILARITY:
                    _combine(found, DuplicateCandidate(cid, round(0.7 * ratio, 3), [str(_("similar name (%(ratio)s)", ratio=f"{ratio:.0%}"))]))
    return sorted(found.values(), key=lambda c: -c.score)[:limit]


def find_duplicates(ctx: ServiceContext, customer_id: int, limit: int = 10) -> list[DuplicateCandidate]:
    """Probable duplicates of one customer, best first, from the core and every plugin."""
    return _candidates(ctx, get_customer(ctx, customer_id), limit)


def duplicates_of_new(ctx: ServiceContext, data: dict[str, Any], limit: int = 5) -> list[DuplicateCandidate]:
    """Probable duplicates of a customer about to be created from ``data`` (name, phone, e-mail), best
    first: what the form warns of before saving. Nothing is written."""
    ctx.require("customer.read")
    draft = Customer(**{k: data.get(k) for k in ("name", "phone", "email", "kind") if data.get(k) is not None})
    derive_fields(ctx, draft)
    if not (draft.name_key or draft.phone_normalized or draft.email_normalized):
        return []
    return _candidates(ctx, draft, limit)


def _candidates(ctx: ServiceContext, customer: Customer, limit: int) -> list[DuplicateCandidate]:
    found: dict[int, DuplicateCandidate] = {}
    for group in ctx.hook.crm_find_duplicates(ctx=ctx, customer=customer, limit=limit):
        for cand in group or ():
            if cand.customer_id != customer.id:
                _combine(found, cand)
    if found:  # a plugin's candidates too: only customers the actor may see, never deleted or merged ones
        visible = set(ctx.session.scalars(access.scope_customers(
            ctx, _visible(select(Customer.id)).where(Customer.id.in_(list(found))))))
        found = {cid: cand for cid, cand in found.items() if cid in visible}
    return sorted(found.values(), key=lambda c: (-c.score, c.customer_id))[:limit]


def duplicate_groups(ctx: ServiceContext, limit: int = 100) -> list[dict[str, Any]]:
    """Groups of visible customers sharing a normalised phone, e-mail or company name."""
    ctx.require("customer.read")
    groups: list[dict[str, Any]] = []
    base = access.scope_customers(ctx, _visible(select(Customer)))
    sub = base.subquery()
    for column, reason in ((sub.c.phone_normalized, _("same phone number")),
                           (sub.c.email_normalized, _("same e-mail address")), (sub.c.name_key, _("same name"))):
        stmt = (select(column, func.count()).where(column.is_not(None)).group_by(column)
                .having(func.count() > 1).order_by(func.count().desc()).limit(limit))
        for value, _count in ctx.session.execute(stmt):
            ids = list(ctx.session.scalars(select(sub.c.id).where(column == value).order_by(sub.c.id)))
            groups.append({"reason": str(reason), "value": value, "customer_ids": ids})
    return groups[:limit]


def default_merge(ctx: ServiceContext, winner: Customer, loser: Customer) -> list[MovedRows | RemovedRows]:
    """Move every row of every table with a foreign key to customers.id (applying each table's
    declared merge policy where a unique key clashes), plus external refs."""
    moved = move_rows(ctx, winner.id, loser.id)
    refs = ctx.session.scalars(select(ExternalRef).where(ExternalRef.entity == "customer",
                                                         ExternalRef.entity_id == loser.id)).all()
    ids = []
    for ref in refs:
        clash = ctx.session.scalar(select(ExternalRef.id).where(
            ExternalRef.system == ref.system, ExternalRef.entity == "customer", ExternalRef.entity_id == winner.id))
        if clash is None:
            ref.entity_id = winner.id
            ids.append(ref.id)
    if ids:
        moved.append(MovedRows("external_refs", "entity_id", ids))
    return moved


def _merge_hooks(ctx: ServiceContext, winner: Customer, loser: Customer) -> list[Any]:
    """Call each plugin's ``crm_customer_merge`` in hook order (the core's default last); a unique
    key its rows break is refused naming that plugin, never as the database's own message."""
    hook = ctx.hook.crm_customer_merge
    kwargs = {"ctx": ctx, "winner": winner, "loser": loser}
    groups = []
    for impl in reversed(hook.get_hookimpls()):
        try:
            groups.append(impl.function(*[kwargs[a] for a in impl.argnames]))
            ctx.session.flush()
        except IntegrityError as exc:
            raise Conflict(_("These customers cannot be merged: plugin %(plugin)s could not move its records, "
                             "which clash with the other customer's.", plugin=impl.plugin_name)) from exc
    return groups


def merge_customers(ctx: ServiceContext, winner_id: int, loser_id: int, keep_from_loser: Collection[str] = ()) -> dict[str, Any]:
    """Merge ``loser`` into ``winner``: history moves over, the fields named in ``keep_from_loser`` take
    the loser's value, other empty fields of the winner are filled, tags are joined, the loser is kept
    (hidden) so the merge can be undone with :func:`unmerge`."""
    ctx.require("customer.merge")
    if winner_id == loser_id:
        raise ValidationError(_("A customer cannot be merged into itself."), errors={"loser_id": [_("Choose another customer.")]})
    unknown = sorted(set(keep_from_loser) - set(CHOOSABLE))
    if unknown:
        raise ValidationError(_("These fields cannot be taken from the other customer: %(fields)s.",
                                fields=", ".join(unknown)),
                              errors={"keep_from_loser": [_("Choose among: %(fields)s.", fields=", ".join(CHOOSABLE))]})
    winner = get_customer(ctx, winner_id, permission="customer.write")
    loser = get_customer(ctx, loser_id, permission="customer.write")
    with unit_of_work(ctx):
        ctx.session.flush()
        moved: list[MovedRows] = []
        removed: list[RemovedRows] = []
        for group in _merge_hooks(ctx, winner, loser):
            for item in group or ():
                (removed if isinstance(item, RemovedRows) else moved).append(item)
        ctx.session.flush()
        ctx.session.expire_all()  # rows moved by bulk UPDATEs: reload what the session holds
        filled: dict[str, list[Any]] = {}
        for name in CHOOSABLE:
            if name in keep_from_loser and getattr(winner, name) != getattr(loser, name):
                filled[name] = [getattr(winner, name), getattr(loser, name)]
                setattr(winner, name, getattr(loser, name))
        for name in FILL_FIELDS:
            if name not in filled and getattr(winner, name) in (None, "") and getattr(loser, name) not in (None, ""):
                filled[name] = [getattr(winner, name), getattr(loser, name)]
                setattr(winner, name, getattr(loser, name))
        attrs_added = {k: v for k, v in (loser.attributes or {}).items() if k not in (winner.attributes or {})}
        if attrs_added:
            winner.attributes = {**(winner.attributes or {}), **attrs_added}
        tags_added = [t for t in loser.tags if t not in winner.tags]
        winner.tags = list(winner.tags) + tags_added
        loser.merged_into_id = winner.id
        ctx.session.flush()
        derive_fields(ctx, winner)
        refresh_completeness(ctx, winner)
        data = {"loser_id": loser.id, "winner_id": winner.id,
                "moved": [{"table": m.table, "column": m.column, "ids": m.ids, "pk": m.pk} for m in moved],
                "removed": [{"table": r.table, "rows": r.rows} for r in removed],
                "filled": filled, "attributes_added": attrs_added, "tags_added": [t.name for t in tags_added]}
        # the audit entry keeps the removed rows whole (undo needs them); the event and its outbox
        # messages only say how many rows of which table were removed
        event = Event(name="customer.merged", entity="customer", entity_id=winner.id, data=jsonable(
            {"changes": filled, **data, "removed": [{"table": r.table, "count": len(r.rows)} for r in removed]}))
        audit(ctx, "merged", "customer", winner.id, filled, data, event.id)
        emit(ctx, event, lifecycle=("customer", "merged", winner.id, filled))
        counts: dict[str, int] = {}
        for m in moved:
            counts[m.table] = counts.get(m.table, 0) + len(m.ids)
        dropped: dict[str, int] = {}
        for r in removed:
            dropped[r.table] = dropped.get(r.table, 0) + len(r.rows)
        summary = {"winner_id": winner.id, "loser_id": loser.id, "moved": counts, "removed": dropped,
                   "filled": sorted(filled), "tags_added": data["tags_added"], "event_id": event.id}
    ctx.session.refresh(winner)
    summary["audit_id"] = ctx.session.scalar(select(AuditLog.id).where(AuditLog.event_id == summary["event_id"]))
    return summary


def unmerge(ctx: ServiceContext, audit_id: int) -> dict[str, Any]:
    """Undo a merge from its audit entry: rows move back, rows it removed are put back, filled
    fields and added tags are undone."""
    ctx.require("customer.merge")
    entry = ctx.session.get(AuditLog, audit_id)
    if entry is None or entry.action != "merged" or entry.entity != "customer":
        raise NotFound(_("Audit entry %(id)s is not a customer merge.", id=audit_id))
    undone = ctx.session.scalar(select(AuditLog.id).where(AuditLog.action == "unmerged",
                                                          AuditLog.data["merge_audit_id"].as_integer() == audit_id))
    if undone:
        raise Conflict(_("This merge was already undone (audit entry %(id)s).", id=undone))
    data = entry.data
    winner = get_customer(ctx, int(data["winner_id"]), permission="customer.write")
    loser = ctx.session.get(Customer, int(data["loser_id"]))
    if loser is None or loser.merged_into_id != winner.id:
        raise Conflict(_("The merged customer is no longer linked to the winner; it cannot be undone."))
    with unit_of_work(ctx):
        for m in data["moved"]:
            move_back(ctx, m, winner.id, loser.id)
        restore(ctx, data.get("removed") or [])
        ctx.session.flush()
        ctx.session.expire_all()
        restored = {}
        for name, (before, after) in data["filled"].items():
            if jsonable(getattr(winner, name)) == after:
                setattr(winner, name, before)
                restored[name] = [after, before]
        if data.get("attributes_added"):
            winner.attributes = {k: v for k, v in (winner.attributes or {}).items()
                                 if k not in data["attributes_added"] or v != data["attributes_added"][k]}
        winner.tags = [t for t in winner.tags if t.name not in set(data["tags_added"])]
        loser.merged_into_id = None
        ctx.session.flush()
        derive_fields(ctx, winner)
        refresh_completeness(ctx, winner)
        refresh_completeness(ctx, loser)
        record_change(ctx, "customer", "unmerged", winner.id, restored,
                      data={"merge_audit_id": audit_id, "loser_id": loser.id}, event_name="customer.unmerged")
    return {"winner_id": winner.id, "loser_id": loser.id, "restored": sorted(restored)}
