"""Schemas of coupon programmes, their codes and their usage report."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow import ValidationError as FieldError

from crmcore.i18n import _
from crmcore.schemas.columns import Amount, text
from crmcore.schemas.columns import Currency as CurrencyCode
from crmcore.schemas.common import PageArgs, page_of

from ..models_coupons import CODE_KINDS, DISCOUNT_KINDS, Coupon, CouponProgramme
from .common import Money, VERSION

_Count = lambda **kw: fields.Int(allow_none=True, validate=validate.Range(min=1, max=1_000_000,  # noqa: E731
                                 error=_("Give a whole number from 1 to 1,000,000.")), **kw)


class CouponProgrammeSchema(Schema):
    """A coupon programme: the one declaration of its fields' rules."""

    id = fields.Int(dump_only=True)
    name = text(CouponProgramme.name, required=True)
    description = text(CouponProgramme.description, blank_none=True)
    code_kind = text(CouponProgramme.code_kind, choices=CODE_KINDS, load_default="single",
                     metadata={"description": "single: one use per code; multi: one shared code used many times"})
    discount_kind = text(CouponProgramme.discount_kind, choices=DISCOUNT_KINDS, load_default="amount")
    amount = Amount(required=True, metadata={"description": "Money off, or a percentage (discount_kind percent)"})
    currency = CurrencyCode(allow_none=True, metadata={"description": "Of the amount and the minimum spend; "
                                                                       "default: the base currency"})
    min_spend = Amount(allow_none=True)
    product_ids = fields.List(fields.Int(), load_default=list)
    categories = fields.List(fields.Str(validate=validate.Length(min=1, max=120)), load_default=list)
    valid_from = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    per_customer_limit = _Count()
    usage_limit = _Count()
    active = fields.Bool(load_default=True)
    version = fields.Int(load_only=True, metadata=VERSION)
    created_at = fields.AwareDateTime(dump_only=True)

    @validates_schema
    def _rules(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[Any]] = {}
        if data.get("discount_kind") == "percent" and data.get("amount") is not None and data["amount"] > 100:
            errors["amount"] = [_("A discount is at most 100 percent.")]
        if data.get("amount") is not None and data["amount"] <= 0:
            errors.setdefault("amount", []).append(_("Must be more than zero."))
        if data.get("valid_from") and data.get("valid_until") and data["valid_until"] < data["valid_from"]:
            errors["valid_until"] = [_("The end of the validity comes before its start.")]
        if errors:
            raise FieldError(errors)


class CouponSchema(Schema):
    id = fields.Int(dump_only=True)
    programme_id = fields.Int(dump_only=True)
    code = fields.Str(dump_only=True)
    customer_id = fields.Int(dump_only=True)
    max_uses = fields.Int(dump_only=True)
    uses = fields.Int(dump_only=True, metadata={"description": "Orders (not cancelled) using it"})
    source = fields.Str(dump_only=True)
    batch = fields.Str(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class BatchSchema(Schema):
    """Codes to generate: ``count`` codes (single-use programmes), or the one shared ``code`` (multi-use)."""

    count = fields.Int(load_default=1, validate=validate.Range(min=1, max=10_000,
                                                               error=_("Give a whole number from 1 to 10,000.")))
    customer_id = fields.Int(allow_none=True)
    code = text(Coupon.code, blank_none=True, empty=True, validators=[validate.Regexp(
        r"^[A-Za-z0-9_-]{4,32}$", error=_("Use 4 to 32 letters, digits, '-' or '_'."))],
        metadata={"description": "A shared code of your choice (multi-use); default: generated"})
    batch = text(Coupon.batch, blank_none=True)


class CouponIssueSchema(Schema):
    customer_id = fields.Int(required=True, error_messages={"required": _("Say which customer gets the code."),
                                                            "null": _("Say which customer gets the code.")})
    source = fields.Str(load_default="api", validate=validate.Length(min=1, max=32))


class UsageSchema(Schema):
    programme_id = fields.Int()
    name = fields.Str()
    currency = fields.Str()
    issued = fields.Int()
    redeemed = fields.Int()
    released = fields.Int()
    discount_given = Money()
    revenue = Money()


class ProgrammeListArgs(PageArgs):
    active = fields.Bool()


class CouponListArgs(PageArgs):
    pass


ProgrammePage = page_of(CouponProgrammeSchema, "CouponProgrammePage")
CouponPage = page_of(CouponSchema, "CouponPage")
