"""Coupon programmes: codes issued singly or in batches, checked and applied to sales orders (the discount
computed here), released when an order is cancelled, and the usage report per programme."""
from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from crmcore.errors import NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load

from ..models import Product
from ..models_coupons import Coupon, CouponProgramme
from ..schemas.coupons import BatchSchema, ProgrammeSchema

# No 0/O, 1/I/L: a code read out over the phone is not mistaken. 12 of 31 signs: about 59 bits.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
PROGRAMME_FIELDS = ("name", "description", "code_kind", "discount_kind", "amount", "currency", "min_spend",
                    "product_ids", "categories", "valid_from", "valid_until", "per_customer_limit", "usage_limit",
                    "active")
HUNDRED = Decimal(100)
_PROGRAMME, _BATCH = ProgrammeSchema(), BatchSchema()
INVALID_PROGRAMME = _("The coupon programme is not valid.")
INVALID_COUPON = _("The coupon cannot be used.")


def new_code() -> str:
    """An unguessable code (``secrets``), e.g. ``K7QM-3XRP-9TDW``."""
    raw = "".join(secrets.choice(ALPHABET) for _i in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def normal_code(code: Any) -> str | None:
    """A code as typed (any case, spaces around) as stored: upper case; None when it cannot be a code."""
    if not isinstance(code, str) or "\x00" in code:
        return None
    code = code.strip().upper()
    return code if 0 < len(code) <= 32 else None


# --- programmes -----------------------------------------------------------------------------------


def get_programme(ctx: ServiceContext, programme_id: int) -> CouponProgramme:
    ctx.require("sales.coupon.read")
    programme = ctx.session.get(CouponProgramme, programme_id)
    if programme is None:
        raise NotFound(_("Coupon programme %(id)s does not exist.", id=programme_id))
    return programme


def list_programmes(ctx: ServiceContext, *, active: bool | None = None, page: int = 1,
                    page_size: int = 25) -> tuple[list[CouponProgramme], int]:
    ctx.require("sales.coupon.read")
    stmt = select(CouponProgramme)
    if active is not None:
        stmt = stmt.where(CouponProgramme.active == active)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(CouponProgramme.name).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


def validate_programme(ctx: ServiceContext, data: dict[str, Any], existing: CouponProgramme | None) -> dict[str, Any]:
    """A programme's input checked and converted (the one validation of the API and the admin): the schema,
    then products that exist and a name no other programme has."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        missing = [p for p in values.get("product_ids") or [] if ctx.session.get(Product, p) is None]
        if missing:
            errors["product_ids"] = [_("Product %(id)s does not exist.", id=missing[0])]
        name = values.get("name")
        if name:
            other = ctx.session.scalar(select(CouponProgramme.id).where(CouponProgramme.name == name))
            if other is not None and (existing is None or other != existing.id):
                errors["name"] = [_("Another coupon programme is named '%(name)s'.", name=name)]
        kind = values.get("discount_kind", existing.discount_kind if existing else None)
        if existing is not None and "amount" in values and kind == "percent" and values["amount"] > 100:
            errors["amount"] = [_("A discount is at most 100 percent.")]
        return errors

    data = load(_PROGRAMME, data, partial=existing is not None, message=INVALID_PROGRAMME, check=check)
    if existing is None and not data.get("currency"):
        data["currency"] = ctx.settings["DEFAULT_CURRENCY"]
    if "categories" in data:
        data["categories"] = sorted({c.strip() for c in data["categories"] if c.strip()})
    if "product_ids" in data:
        data["product_ids"] = sorted(set(data["product_ids"]))
    return data


def save_programme(ctx: ServiceContext, data: dict[str, Any], programme_id: int | None = None) -> CouponProgramme:
    """Create a programme, or change the one ``programme_id`` (``version``: the one read, 409 when stale)."""
    ctx.require("sales.coupon.manage")
    existing = get_programme(ctx, programme_id) if programme_id is not None else None
    version = data.get("version") if isinstance(data, dict) else None
    clean = validate_programme(ctx, data, existing)
    clean.pop("version", None)
    with unit_of_work(ctx):
        programme = existing or CouponProgramme()
        if existing is not None and version is not None and version != existing.version:
            from crmcore.errors import Conflict

            raise Conflict(_("The record was changed by someone else; reload it and try again."))
        changes = apply_changes(programme, clean, PROGRAMME_FIELDS)
        if existing is None:
            ctx.session.add(programme)
        elif not changes:
            return programme
        ctx.session.flush()
        action = "created" if existing is None else "updated"
        record_change(ctx, "coupon_programme", action, programme.id, changes,
                      event_name=f"sales.coupon_programme.{action}", data={"name": programme.name})
    return programme


# --- codes ----------------------------------------------------------------------------------------


def _unique_code(ctx: ServiceContext, taken: set[str]) -> str:
    for _attempt in range(20):
        code = new_code()
        if code not in taken and ctx.session.scalar(select(Coupon.id).where(Coupon.code == code)) is None:
            taken.add(code)
            return code
    raise RuntimeError("no free coupon code after 20 draws")  # 59 bits: never, unless the generator is broken


def _live_customer(ctx: ServiceContext, customer_id: int, field: str, message: Any) -> Customer:
    customer = ctx.session.get(Customer, customer_id)
    if customer is None or customer.deleted_at is not None or customer.merged_into_id is not None:
        raise ValidationError(message, errors={field: [_("Customer %(id)s does not exist.", id=customer_id)]})
    return customer


def generate_codes(ctx: ServiceContext, programme_id: int, data: dict[str, Any], *,
                   source: str = "admin") -> list[Coupon]:
    """A batch of codes of a programme: ``count`` single-use codes (each used once, for ``customer_id``
    only when given), or for a multi-use programme its one shared ``code`` (given, or generated)."""
    ctx.require("sales.coupon.manage")
    programme = get_programme(ctx, programme_id)
    message = _("The codes cannot be generated.")
    clean = load(_BATCH, data, partial=False, message=message)
    if clean.get("customer_id") is not None:
        _live_customer(ctx, clean["customer_id"], "customer_id", message)
    codes: list[Coupon] = []
    with unit_of_work(ctx):
        if programme.code_kind == "multi":
            code = normal_code(clean.get("code")) if clean.get("code") else _unique_code(ctx, set())
            if ctx.session.scalar(select(Coupon.id).where(Coupon.code == code)) is not None:
                raise ValidationError(message, errors={"code": [_("The code %(code)s exists already.", code=code)]})
            codes.append(Coupon(programme_id=programme.id, code=code, customer_id=clean.get("customer_id"),
                                max_uses=None, source=source, batch=clean.get("batch")))
        else:
            if clean.get("code"):
                raise ValidationError(message, errors={"code": [
                    _("A single-use programme's codes are generated; leave the code empty.")]})
            taken: set[str] = set()
            codes = [Coupon(programme_id=programme.id, code=_unique_code(ctx, taken),
                            customer_id=clean.get("customer_id"), max_uses=1, source=source,
                            batch=clean.get("batch")) for _i in range(clean["count"])]
        ctx.session.add_all(codes)
        ctx.session.flush()
        record_change(ctx, "coupon_programme", "updated", programme.id, {"codes": [None, len(codes)]},
                      event_name="sales.coupon.issued",
                      data={"name": programme.name, "count": len(codes), "batch": clean.get("batch")})
    return codes


def issue_coupon(ctx: ServiceContext, programme_id: int, customer_id: int, *, source: str) -> Coupon:
    """A new single-use code of a programme for one customer (a reward, a gift): only that customer may
    use it, once, within the programme's other rules. ``source`` says who issued it (``referral``, ...)."""
    ctx.require("sales.coupon.issue")
    programme = ctx.session.get(CouponProgramme, programme_id)
    message = _("The coupon cannot be issued.")
    if programme is None:
        raise NotFound(_("Coupon programme %(id)s does not exist.", id=programme_id))
    if not programme.active:
        raise ValidationError(message, errors={"programme_id": [
            _("The coupon programme %(name)s is closed.", name=programme.name)]})
    _live_customer(ctx, customer_id, "customer_id", message)
    with unit_of_work(ctx):
        coupon = Coupon(programme_id=programme.id, code=_unique_code(ctx, set()), customer_id=customer_id, max_uses=1,
                        source=(source or "api")[:32])
        ctx.session.add(coupon)
        ctx.session.flush()
        record_change(ctx, "coupon", "created", coupon.id, {"code": [None, coupon.code]},
                      event_name="sales.coupon.issued",
                      data={"programme_id": programme.id, "customer_id": customer_id, "source": coupon.source})
    return coupon


def list_coupons(ctx: ServiceContext, programme_id: int, *, page: int = 1,
                 page_size: int = 25) -> tuple[list[Coupon], int]:
    get_programme(ctx, programme_id)
    stmt = select(Coupon).where(Coupon.programme_id == programme_id)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Coupon.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)
