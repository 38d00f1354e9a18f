"""The referral programme's settings: one row, made with the defaults on first reading, changed by a manager."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import text
from crmcore.services.customers import check_version
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load

from ..models import Programme

FIELDS = ("active", "reward_kind", "referrer_points", "referee_points", "coupon_programme_id",
          "return_window_days", "decay")


class ProgrammeSchema(Schema):
    active = fields.Bool()
    reward_kind = text(Programme.reward_kind)
    referrer_points = fields.Int(validate=validate.Range(min=0, max=1_000_000))
    referee_points = fields.Int(validate=validate.Range(min=0, max=1_000_000))
    coupon_programme_id = fields.Int(allow_none=True, validate=validate.Range(min=1))
    return_window_days = fields.Int(validate=validate.Range(min=0, max=365))
    decay = fields.Decimal(places=3, validate=validate.Range(min=Decimal("0"), max=Decimal("1")))


_SCHEMA = ProgrammeSchema()


def programme(ctx: ServiceContext) -> Programme:
    """The programme (made with the defaults when there is none yet)."""
    row = ctx.session.scalar(select(Programme).order_by(Programme.id).limit(1))
    if row is None:
        row = Programme(active=True, reward_kind="points", referrer_points=100, referee_points=50,
                        return_window_days=14, decay=Decimal("0.5"))
        ctx.session.add(row)
        ctx.session.flush()
    return row


def validate_programme(ctx: ServiceContext, data: dict[str, Any], existing: Programme) -> dict[str, Any]:
    """The programme's changes checked (the fields given): numbers in range, a decay from 0 to 1, and a coupon
    reward names a coupon programme that exists."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        kind = values.get("reward_kind", existing.reward_kind)
        chosen = values["coupon_programme_id"] if "coupon_programme_id" in values else existing.coupon_programme_id
        if kind == "coupon" and not chosen:
            return {"coupon_programme_id": [_("Choose the coupon programme the rewards are issued from.")]}
        if values.get("coupon_programme_id") and chosen not in dict(coupon_programmes(ctx)):
            return {"coupon_programme_id": [_("There is no such coupon programme.")]}
        return {}

    return load(_SCHEMA, data, partial=True, message=_("The referral programme is not valid."), check=check)


def coupon_programmes(ctx: ServiceContext) -> list[tuple[int, str]]:
    """The sales plugin's coupon programmes by name (none in a version without coupons)."""
    import importlib

    try:
        model = importlib.import_module("plugins.sales.models_coupons").CouponProgramme
    except ImportError:
        return []
    return [(int(i), str(n)) for i, n in ctx.session.execute(select(model.id, model.name).order_by(model.name))]


def update_programme(ctx: ServiceContext, data: dict[str, Any], *, expected_version: int | None = None,
                     if_match: bool = False) -> Programme:
    ctx.require("social.manage")
    with unit_of_work(ctx):
        row = programme(ctx)
        check_version(row, expected_version, if_match)
        clean = validate_programme(ctx, data, row)
        changes = apply_changes(row, clean, FIELDS)
        if changes:
            ctx.session.flush()
            record_change(ctx, "referral_programme", "updated", row.id, changes, event_name="social.programme.updated")
    return row
