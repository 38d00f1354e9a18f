"""Coupon programmes: codes issued singly or in batches, checked and applied to sales orders (the discount
computed here), released when an order is cancelled, and the usage report per programme."""
from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from crmcore.db import utcnow
from crmcore.errors import Conflict, NotFound, ValidationError
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.models import Customer
from crmcore.runtime import ServiceContext
from crmcore.services.customers import check_version
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load

from ..models import Order, OrderLine, Product
from ..models_coupons import Coupon, CouponProgramme, CouponRedemption
from ..schemas.coupons import BatchSchema, CouponIssueSchema, CouponProgrammeSchema
from .money import ZERO, cents

# No 0/O, 1/I/L: a code read out over the phone is not mistaken. 12 of 31 signs: about 59 bits.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12
PROGRAMME_FIELDS = ("name", "description", "code_kind", "discount_kind", "amount", "currency", "min_spend",
                    "product_ids", "categories", "valid_from", "valid_until", "per_customer_limit", "usage_limit",
                    "active")
HUNDRED = Decimal(100)
_PROGRAMME, _BATCH, _ISSUE = CouponProgrammeSchema(), BatchSchema(), CouponIssueSchema()
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


def save_programme(ctx: ServiceContext, data: dict[str, Any], programme_id: int | None = None, *,
                   expected_version: int | None = None, if_match: bool = False) -> CouponProgramme:
    """Create a programme, or change the one ``programme_id`` (a stale ``expected_version``: 409, or 412
    from If-Match)."""
    ctx.require("sales.coupon.manage")
    existing = get_programme(ctx, programme_id) if programme_id is not None else None
    if existing is not None:
        check_version(existing, expected_version, if_match)
    clean = validate_programme(ctx, data, existing)
    clean.pop("version", None)
    with unit_of_work(ctx):
        programme = existing or CouponProgramme()
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


def issue_coupon_for(ctx: ServiceContext, programme_id: int, data: Any) -> Coupon:
    """:func:`issue_coupon` of an API body (``customer_id``, ``source``), checked by its schema."""
    clean = load(_ISSUE, data, partial=False, message=_("The coupon cannot be issued."))
    return issue_coupon(ctx, programme_id, clean["customer_id"], source=clean["source"])


def list_coupons(ctx: ServiceContext, programme_id: int, *, page: int = 1,
                 page_size: int = 25) -> tuple[list[Coupon], int]:
    get_programme(ctx, programme_id)
    stmt = select(Coupon).where(Coupon.programme_id == programme_id)
    total = ctx.session.scalar(select(func.count()).select_from(stmt.subquery()))
    items = ctx.session.scalars(stmt.order_by(Coupon.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return list(items), int(total or 0)


# --- on orders ------------------------------------------------------------------------------------


@dataclass
class OrderCoupon:
    """The coupon an order's validation settled on: ``coupon`` None removes the order's coupon."""

    coupon: Coupon | None
    discount: Decimal


def _active_uses(ctx: ServiceContext, *where: Any, order_id: int | None) -> int:
    """Uses (redemptions not released, on orders not cancelled) matching ``where``, other than ``order_id``'s."""
    stmt = (select(func.count()).select_from(CouponRedemption).join(Order, Order.id == CouponRedemption.order_id)
            .where(CouponRedemption.released_at.is_(None), Order.status != "cancelled", *where))
    if order_id is not None:
        stmt = stmt.where(CouponRedemption.order_id != order_id)
    return int(ctx.session.scalar(stmt) or 0)


def _eligible(ctx: ServiceContext, programme: CouponProgramme, lines: list[OrderLine]) -> Decimal:
    """The part of the lines' total the programme's products or categories cover (every line: no restriction)."""
    if not programme.product_ids and not programme.categories:
        return sum((ln.line_total for ln in lines), ZERO)
    total = ZERO
    for ln in lines:
        product = ctx.session.get(Product, ln.product_id) if ln.product_id is not None else None
        if product is not None and (product.id in programme.product_ids or product.category in programme.categories):
            total += ln.line_total
    return total


def refusal(ctx: ServiceContext, coupon: Coupon, *, customer_id: int | None, lines: list[OrderLine], currency: str,
            order_id: int | None, today: dt.date, check_dates: bool = True) -> tuple[str | None, Decimal]:
    """Why ``coupon`` cannot be used on an order (None: it can), and the discount it gives.

    The code's programme must be open and valid ``today`` (unless the order holds the code already:
    ``check_dates`` False), the code for this customer, not used up (the code, the programme's total, the
    customer's limit: uses on other orders), in the order's currency when it is money, the minimum spend
    reached by the lines' total, and some of the lines for its products or categories."""
    p = coupon.programme
    if not p.active:
        return _("The coupon programme %(name)s is closed.", name=p.name), ZERO
    if check_dates and p.valid_from is not None and today < p.valid_from:
        return _("This coupon is not valid yet: it can be used from %(date)s.", date=p.valid_from.isoformat()), ZERO
    if check_dates and p.valid_until is not None and today > p.valid_until:
        return _("This coupon expired on %(date)s.", date=p.valid_until.isoformat()), ZERO
    if coupon.customer_id is not None and coupon.customer_id != customer_id:
        return _("This coupon was issued to another customer."), ZERO
    if coupon.max_uses is not None and \
            _active_uses(ctx, CouponRedemption.coupon_id == coupon.id, order_id=order_id) >= coupon.max_uses:
        return _("This coupon has been used already."), ZERO
    if p.usage_limit is not None and \
            _active_uses(ctx, CouponRedemption.programme_id == p.id, order_id=order_id) >= p.usage_limit:
        return _("The coupons of %(name)s are used up.", name=p.name), ZERO
    if p.per_customer_limit is not None and customer_id is not None and _active_uses(
            ctx, CouponRedemption.programme_id == p.id, CouponRedemption.customer_id == customer_id,
            order_id=order_id) >= p.per_customer_limit:
        return _("This customer has used the coupons of %(name)s %(count)s times: the limit.", name=p.name,
                 count=p.per_customer_limit), ZERO
    money = p.discount_kind == "amount" or p.min_spend is not None
    if money and currency != p.currency:
        return _("This coupon is in %(currency)s; the order is in %(order_currency)s.", currency=p.currency,
                 order_currency=currency), ZERO
    subtotal = sum((ln.line_total for ln in lines), ZERO)
    if p.min_spend is not None and subtotal < p.min_spend:
        return _("The order comes to %(total)s %(currency)s; this coupon needs a spend of at least %(min)s.",
                 total=subtotal, currency=currency, min=p.min_spend), ZERO
    eligible = _eligible(ctx, p, lines)
    if eligible <= 0:
        return _("This coupon is not for the products of this order."), ZERO
    if p.discount_kind == "percent":
        return None, cents(eligible * p.amount / HUNDRED)
    return None, min(p.amount, eligible)


def order_coupon(ctx: ServiceContext, data: dict[str, Any], existing: Order | None,
                 lines: list[OrderLine] | None) -> OrderCoupon | None:
    """The coupon of an order's validated input (``coupon_code``), checked against its lines (given, or the
    order's) and customer; None when the order's coupon is not touched. A refused code raises
    ``ValidationError`` naming why (at ``coupon_code``)."""
    if "coupon_code" in data:
        code = normal_code(data["coupon_code"]) if data["coupon_code"] else None
    elif existing is not None and existing.coupon_code and lines is not None and data.get("total") is None:
        code = existing.coupon_code  # new lines: the discount is computed again (a total given, the ERP's: kept)
    else:
        return None
    if code is None:
        return OrderCoupon(None, ZERO)
    coupon = ctx.session.scalar(select(Coupon).where(Coupon.code == code))
    if coupon is None:
        raise ValidationError(INVALID_COUPON, errors={"coupon_code": [
            _("No coupon has the code %(code)s.", code=code)]})
    customer_id = data.get("customer_id", existing.customer_id if existing else None)
    currency = data.get("currency") or (existing.currency if existing else None)
    if currency is None:
        customer = ctx.session.get(Customer, customer_id) if customer_id is not None else None
        currency = (customer.currency if customer else None) or ctx.settings["DEFAULT_CURRENCY"]
    held = existing is not None and existing.coupon_code == code
    why, discount = refusal(ctx, coupon, customer_id=customer_id,
                            lines=lines if lines is not None else list(existing.lines if existing else []),
                            currency=currency, order_id=existing.id if existing else None, today=dt.date.today(),
                            check_dates=not held)
    if why is not None:
        raise ValidationError(INVALID_COUPON, errors={"coupon_code": [why]})
    return OrderCoupon(coupon, discount)


def settle_order(ctx: ServiceContext, order: Order) -> None:
    """Bring an order's coupon use in line with the order (after it is written, in its unit of work): its
    code used once (locked and its limits checked again: two orders cannot both take a last use), a use of
    another code or of a cancelled order released (the use is free again)."""
    active = list(ctx.session.scalars(select(CouponRedemption).where(CouponRedemption.order_id == order.id,
                                                                      CouponRedemption.released_at.is_(None))))
    keep = None
    for use in active:
        if order.status == "cancelled" or use.coupon.code != order.coupon_code or keep is not None:
            use.released_at = utcnow()
            record_change(ctx, "coupon", "updated", use.coupon_id, {"released": [None, order.number]},
                          event_name="sales.coupon.released",
                          data={"order_id": order.id, "programme_id": use.programme_id})
        else:
            keep = use
    if order.status == "cancelled" or not order.coupon_code:
        return
    if keep is not None:
        keep.discount, keep.order_total, keep.currency = order.coupon_discount, order.total, order.currency
        return
    coupon = ctx.session.scalar(select(Coupon).where(Coupon.code == order.coupon_code).with_for_update(of=Coupon))
    if coupon is None:
        raise Conflict(_("No coupon has the code %(code)s.", code=order.coupon_code))
    # the programme locked too: its total and per-customer limits span its codes
    ctx.session.scalar(select(CouponProgramme.id).where(CouponProgramme.id == coupon.programme_id).with_for_update())
    why, _discount = refusal(ctx, coupon, customer_id=order.customer_id, lines=list(order.lines),
                             currency=order.currency, order_id=order.id, today=dt.date.today(), check_dates=False)
    if why is not None:
        raise Conflict(why)
    use = CouponRedemption(coupon_id=coupon.id, programme_id=coupon.programme_id, order_id=order.id,
                           customer_id=order.customer_id, discount=order.coupon_discount, order_total=order.total,
                           currency=order.currency)
    ctx.session.add(use)
    ctx.session.flush()
    record_change(ctx, "coupon", "updated", coupon.id, {"redeemed": [None, order.number]},
                  event_name="sales.coupon.redeemed",
                  data={"order_id": order.id, "programme_id": coupon.programme_id, "customer_id": order.customer_id,
                        "discount": order.coupon_discount})


def net_line_totals(ctx: ServiceContext, order: Order) -> list[Decimal]:
    """Each line's total less its share of the order's coupon discount (shared by the lines the coupon
    covers, in proportion to their totals; the last covered line takes the rounding), in line order."""
    totals = [ln.line_total for ln in order.lines]
    discount = order.coupon_discount or ZERO
    if not discount or not order.lines:
        return totals
    coupon = ctx.session.scalar(select(Coupon).where(Coupon.code == order.coupon_code)) if order.coupon_code else None
    covered = [i for i, ln in enumerate(order.lines)
               if coupon is None or _eligible(ctx, coupon.programme, [ln]) > 0] or list(range(len(totals)))
    base = sum((totals[i] for i in covered), ZERO)
    left = discount
    for n, i in enumerate(covered):
        share = left if n == len(covered) - 1 else (cents(discount * totals[i] / base) if base else ZERO)
        share = min(share, totals[i])
        totals[i] -= share
        left -= share
    return totals


def code_uses(ctx: ServiceContext, coupon_ids: list[int]) -> dict[int, int]:
    """Uses of each code (redemptions not released, on orders not cancelled)."""
    if not coupon_ids:
        return {}
    rows = ctx.session.execute(
        select(CouponRedemption.coupon_id, func.count()).join(Order, Order.id == CouponRedemption.order_id)
        .where(CouponRedemption.coupon_id.in_(coupon_ids), CouponRedemption.released_at.is_(None),
               Order.status != "cancelled").group_by(CouponRedemption.coupon_id))
    return {cid: int(n) for cid, n in rows}


# --- usage ----------------------------------------------------------------------------------------


def usage(ctx: ServiceContext, programme_id: int | None = None) -> list[dict[str, Any]]:
    """Per programme: codes issued, uses (redeemed), uses released by cancellations, the discount given and
    the revenue (totals after the discount) of the orders using it, in the programme's currency."""
    ctx.require("sales.coupon.read")
    stmt = select(CouponProgramme).order_by(CouponProgramme.name)
    if programme_id is not None:
        get_programme(ctx, programme_id)
        stmt = stmt.where(CouponProgramme.id == programme_id)
    programmes = list(ctx.session.scalars(stmt))
    ids = [p.id for p in programmes]
    issued = {pid: int(n) for pid, n in ctx.session.execute(
        select(Coupon.programme_id, func.count()).where(Coupon.programme_id.in_(ids)).group_by(Coupon.programme_id))}
    live = (CouponRedemption.released_at.is_(None)) & (Order.status != "cancelled")
    used: dict[int, tuple[int, Decimal, Decimal]] = {}
    released: dict[int, int] = {}
    if ids:
        for pid, n, discount, revenue in ctx.session.execute(
                select(CouponRedemption.programme_id, func.count(), func.sum(CouponRedemption.discount),
                       func.sum(Order.total)).join(Order, Order.id == CouponRedemption.order_id)
                .where(CouponRedemption.programme_id.in_(ids), live).group_by(CouponRedemption.programme_id)):
            used[pid] = (int(n), cents(discount or ZERO), cents(revenue or ZERO))
        released = {pid: int(n) for pid, n in ctx.session.execute(
            select(CouponRedemption.programme_id, func.count()).join(Order, Order.id == CouponRedemption.order_id)
            .where(CouponRedemption.programme_id.in_(ids), ~live).group_by(CouponRedemption.programme_id))}
    return [{"programme_id": p.id, "name": p.name, "currency": p.currency, "issued": int(issued.get(p.id, 0)),
             "redeemed": used.get(p.id, (0, ZERO, ZERO))[0], "released": released.get(p.id, 0),
             "discount_given": used.get(p.id, (0, ZERO, ZERO))[1], "revenue": used.get(p.id, (0, ZERO, ZERO))[2]}
            for p in programmes]


USAGE_COLUMNS = ("name", "currency", "issued", "redeemed", "released", "discount_given", "revenue")


def usage_csv(ctx: ServiceContext, programme_id: int | None = None) -> str:
    """The usage report as CSV (UTF-8 with a BOM for spreadsheet programs), headers in the reader's language."""
    headers = [_("Programme"), _("Currency"), _("Codes issued"), _("Redeemed"), _("Released"), _("Discount given"),
               _("Revenue")]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(h) for h in headers])
    for row in usage(ctx, programme_id):
        writer.writerow([_csv_cell(row[k]) for k in USAGE_COLUMNS])
    return "\ufeff" + out.getvalue()


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (a name starting with = + - @)."""
    text = str(value)
    return "'" + text if isinstance(value, str) and text[:1] in ("=", "+", "-", "@") else text
