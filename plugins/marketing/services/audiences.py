"""Audiences: a condition in the core condition language over customers (and every field plugins compute:
RFM segment, lifetime value, days since the last order...), plus a static list, minus other audiences,
compiled to ONE SQL query. Live size and a sample while editing; snapshotted when a send starts."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import Select, and_, delete, false, func, not_, or_, select

from crmcore import entities
from crmcore.conditions import ConditionError, compile_sql, validate_sql
from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import text
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load

from ..models import Audience, AudienceMember

MAX_EXCLUDE = 20
MAX_MEMBERS_PER_CALL = 10_000
SAMPLE = 10
EDITABLE = ("name", "description", "condition", "exclude")


class AudienceSchema(Schema):
    name = text(Audience.name, required=True)
    description = fields.Str(allow_none=True, validate=validate.Length(max=2000))
    condition = fields.Dict(allow_none=True)
    exclude = fields.List(fields.Int(strict=True), validate=validate.Length(max=MAX_EXCLUDE))


_SCHEMA = AudienceSchema()


def validate_audience(ctx: ServiceContext, data: dict[str, Any], existing: Audience | None) -> dict[str, Any]:
    """An audience checked by ``AudienceSchema``, its condition against the customers' fields (an unknown field
    names the near ones), a name no other audience has, and exclusions that exist and are not itself."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("name"):
            other = ctx.session.scalar(select(Audience).where(Audience.name == values["name"]))
            if other is not None and (existing is None or other.id != existing.id):
                errors["name"] = [_("An audience named '%(name)s' exists.", name=values["name"])]
        if values.get("condition") is not None and (problems := condition_problems(ctx, values["condition"])):
            errors["condition"] = problems
        exclude = values.get("exclude") or []
        if existing is not None and existing.id in exclude:
            errors["exclude"] = [_("An audience cannot leave out itself.")]
        elif exclude:
            found = set(ctx.session.scalars(select(Audience.id).where(Audience.id.in_(exclude))))
            if missing := sorted(set(exclude) - found):
                errors["exclude"] = [_("No such audience: %(ids)s.", ids=", ".join(map(str, missing)))]
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=_("The audience is not valid."), check=check)


def condition_problems(ctx: ServiceContext, condition: Any) -> list[str]:
    """What is wrong with a condition over customers, in the reader's words (empty: nothing)."""
    try:
        problems = validate_sql(condition, entities.condition_fields(ctx, "customer"))
    except ConditionError as exc:  # not a condition at all (not an object, too deep, too large)
        return [str(exc.message), *(str(m) for v in exc.errors.values() for m in v)]
    return [str(m) for messages in problems.values() for m in messages]


def get_audience(ctx: ServiceContext, audience_id: int) -> Audience:
    ctx.require("marketing.read")
    audience = ctx.session.get(Audience, audience_id)
    if audience is None:
        raise NotFound(_("Audience %(id)s does not exist.", id=audience_id))
    return audience


def list_audiences(ctx: ServiceContext) -> list[Audience]:
    ctx.require("marketing.read")
    return list(ctx.session.scalars(select(Audience).order_by(Audience.name)))


def create_audience(ctx: ServiceContext, data: dict[str, Any]) -> Audience:
    ctx.require("marketing.manage")
    values = validate_audience(ctx, data, None)
    with unit_of_work(ctx):
        audience = Audience(exclude=[])
        changes = apply_changes(audience, values, EDITABLE)
        ctx.session.add(audience)
        ctx.session.flush()
        record_change(ctx, "marketing_audience", "created", audience.id, changes)
    return audience


def update_audience(ctx: ServiceContext, audience_id: int, data: dict[str, Any]) -> Audience:
    ctx.require("marketing.manage")
    audience = get_audience(ctx, audience_id)
    values = validate_audience(ctx, data, audience)
    with unit_of_work(ctx):
        changes = apply_changes(audience, values, EDITABLE)
        if changes:
            record_change(ctx, "marketing_audience", "updated", audience.id, changes)
    return audience


def add_members(ctx: ServiceContext, audience_id: int, customer_codes: list[str]) -> dict[str, Any]:
    """Put customers (by code) on the audience's static list; unknown codes are named, nothing else fails."""
    ctx.require("marketing.manage")
    audience = get_audience(ctx, audience_id)
    if len(customer_codes) > MAX_MEMBERS_PER_CALL:
        raise ValidationError(_("At most %(n)s customers per call.", n=MAX_MEMBERS_PER_CALL),
                              errors={"customers": [_("Too many.")]})
    codes = sorted({str(c).strip() for c in customer_codes if str(c).strip()})
    found = dict(ctx.session.execute(select(Customer.code, Customer.id).where(
        Customer.code.in_(codes), Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None))).all())
    present = set(ctx.session.scalars(select(AudienceMember.customer_id).where(
        AudienceMember.audience_id == audience.id, AudienceMember.customer_id.in_(found.values()))))
    new = [cid for cid in found.values() if cid not in present]
    with unit_of_work(ctx):
        ctx.session.add_all(AudienceMember(audience_id=audience.id, customer_id=cid) for cid in new)
        record_change(ctx, "marketing_audience", "members_added", audience.id, {}, data={"count": len(new)})
    return {"added": len(new), "already": len(present), "unknown": [c for c in codes if c not in found]}


def remove_members(ctx: ServiceContext, audience_id: int, customer_codes: list[str]) -> int:
    ctx.require("marketing.manage")
    audience = get_audience(ctx, audience_id)
    ids = select(Customer.id).where(Customer.code.in_([str(c) for c in customer_codes[:MAX_MEMBERS_PER_CALL]]))
    with unit_of_work(ctx):
        result = ctx.session.execute(delete(AudienceMember).where(AudienceMember.audience_id == audience.id,
                                                                  AudienceMember.customer_id.in_(ids)))
    return int(getattr(result, "rowcount", 0) or 0)


def _matches(ctx: ServiceContext, audience: Audience, seen: frozenset[int]) -> Any:
    """SQL: customers.id is a member of ``audience`` (``seen``: the audiences on the way, against loops)."""
    parts = []
    if audience.condition is not None:
        parts.append(compile_sql(audience.condition, entities.condition_fields(ctx, "customer")))
    if audience.id and ctx.session.scalar(select(AudienceMember.customer_id).where(
            AudienceMember.audience_id == audience.id).limit(1)) is not None:  # a static list: its members too
        parts.append(Customer.id.in_(select(AudienceMember.customer_id).where(AudienceMember.audience_id == audience.id)))
    clause = or_(*parts) if parts else false()
    for other_id in audience.exclude or []:
        if other_id in seen:
            continue
        other = ctx.session.get(Audience, other_id)
        if other is not None:
            clause = and_(clause, not_(_matches(ctx, other, seen | {audience.id})))
    return clause


def members_clause(ctx: ServiceContext, audience: Audience) -> Any:
    """SQL over ``customers``: a live customer (not deleted, not merged away) who is a member of the audience."""
    return and_(Customer.deleted_at.is_(None), Customer.merged_into_id.is_(None),
                _matches(ctx, audience, frozenset({audience.id})))


def members_query(ctx: ServiceContext, audience: Audience) -> Select[Any]:
    """One SELECT of the audience's live customers, by id."""
    return select(Customer.id).where(members_clause(ctx, audience))


def preview(ctx: ServiceContext, audience_id: int | None = None, condition: Any = None,
            exclude: list[int] | None = None) -> dict[str, Any]:
    """The size and a sample of an audience, saved or being edited (``condition``/``exclude`` not saved)."""
    ctx.require("marketing.read")
    if audience_id is not None:
        audience = get_audience(ctx, audience_id)
    else:
        if condition is not None and (problems := condition_problems(ctx, condition)):
            raise ValidationError(_("The audience is not valid."), errors={"condition": problems})
        audience = Audience(id=0, name="", condition=condition, exclude=list(exclude or []))
    clause = members_clause(ctx, audience)
    total = ctx.session.scalar(select(func.count(Customer.id)).where(clause)) or 0
    from .rules import scope_members  # the sample names customers: only those the actor may see

    sample = list(ctx.session.execute(scope_members(ctx, select(Customer.id, Customer.code, Customer.name)
                                                    .where(clause)).order_by(Customer.id).limit(SAMPLE)).all())
    return {"count": total, "sample": [{"id": r.id, "code": r.code, "name": r.name} for r in sample]}
