"""Schemas for customers, contacts, addresses, interactions, duplicates and merges."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ..models.customer import KINDS, STAGES
from ..models.interaction import DIRECTIONS
from .common import CursorPageArgs, Id, PageSize, Search, page_of


def _str(n: int, **kw: Any) -> fields.Str:
    return fields.Str(validate=validate.Length(max=n), **kw)


def _non_negative(value: object) -> None:
    if value is not None and value < 0:  # type: ignore[operator]
        raise ValidationError("Must be a non-negative amount.")


class AddressSchema(Schema):
    id = fields.Int(dump_only=True)
    customer_id = Id(dump_only=True)
    kind = _str(16, load_default="office")
    line1 = _str(255, required=True)
    line2 = _str(255, allow_none=True)
    city = _str(120, allow_none=True)
    region = _str(120, allow_none=True)
    postcode = _str(20, allow_none=True)
    country = _str(2, load_default="CN")
    is_primary = fields.Bool(load_default=False)


class ContactSchema(Schema):
    id = fields.Int(dump_only=True)
    customer_id = Id(required=True)
    name = _str(255, required=True)
    title = _str(120, allow_none=True)
    is_primary = fields.Bool()
    phone = _str(40, allow_none=True)
    mobile = _str(40, allow_none=True)
    email = _str(255, allow_none=True)
    wechat = _str(120, allow_none=True)
    qq = _str(40, allow_none=True)
    weibo = _str(120, allow_none=True)
    other = _str(255, allow_none=True)
    phone_normalized = fields.Str(dump_only=True)
    mobile_normalized = fields.Str(dump_only=True)
    attributes = fields.Dict()
    version = fields.Int(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class ContactUpdateSchema(ContactSchema):
    class Meta:
        exclude = ("customer_id",)

    version = fields.Int(load_only=True, metadata={"description": "Version you read; a stale one gives 409"})


class CustomerSchema(Schema):
    id = fields.Int(dump_only=True)
    code = _str(64, metadata={"description": "Unique code; generated when omitted"})
    name = _str(255, required=True)
    kind = fields.Str(validate=validate.OneOf(KINDS), load_default="organization")
    stage = fields.Str(validate=validate.OneOf(STAGES), load_default="lead")
    level = _str(32, allow_none=True)
    source_channel = _str(32, allow_none=True)
    industry = _str(120, allow_none=True)
    website = _str(255, allow_none=True)
    phone = _str(40, allow_none=True)
    email = fields.Str(allow_none=True, validate=[validate.Length(max=255), validate.Email()])
    credit_limit = fields.Decimal(as_string=True, allow_none=True, places=2, validate=_non_negative)
    currency = _str(3)
    notes = fields.Str(allow_none=True)
    owner_id = Id(allow_none=True)
    tags = fields.Method("_dump_tags", deserialize="_load_tags", metadata={"description": "Tag names"})
    attributes = fields.Dict(metadata={"description": "Values of the admin-defined custom fields"})
    completeness = fields.Int(dump_only=True, metadata={"description": "0-100: how much of the profile is known"})
    completeness_missing = fields.List(fields.Str(), dump_only=True)
    phone_normalized = fields.Str(dump_only=True)
    version = fields.Int(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)
    contacts = fields.List(fields.Nested(ContactSchema), dump_only=True)
    addresses = fields.List(fields.Nested(AddressSchema), dump_only=True)


    def _dump_tags(self, obj: object) -> list[str]:
        return [t.name for t in getattr(obj, "tags", [])]

    def _load_tags(self, value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 120 for v in value):
            raise ValidationError("Must be a list of tag names (1-120 characters each).")
        return value


class CustomerUpdateSchema(CustomerSchema):
    class Meta:
        exclude = ("contacts", "addresses")

    version = fields.Int(load_only=True, metadata={"description": "Version you read; a stale one gives 409"})


class CustomerListArgs(CursorPageArgs):
    q = Search(metadata={"description": "Name, code, pinyin, pinyin initials, phone, e-mail, contact"})
    tag = fields.Str()
    owner_id = Id()
    stage = fields.Str(validate=validate.OneOf(STAGES))
    level = fields.Str()
    sort = fields.Str(load_default="name", metadata={"description": "Field, '-' prefix for descending"})


class CustomerExportArgs(Schema):
    q = Search(metadata={"description": "Same search as the list"})
    tag = fields.Str()
    owner_id = Id()
    stage = fields.Str(validate=validate.OneOf(STAGES))
    level = fields.Str()
    encoding = fields.Str(load_default="utf-8-sig", validate=validate.OneOf(["utf-8-sig", "utf-8", "gb18030"]),
                          metadata={"description": "utf-8-sig (with BOM, for Excel), utf-8 or gb18030"})


class BulkCustomersSchema(Schema):
    customers = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=1000))
    upsert = fields.Bool(load_default=True, metadata={"description": "Update customers whose code exists"})


class InteractionSchema(Schema):
    id = fields.Int(dump_only=True)
    customer_id = Id(required=True)
    contact_id = Id(allow_none=True)
    channel = _str(32, required=True)
    direction = fields.Str(validate=validate.OneOf(DIRECTIONS), load_default="inbound")
    subject = _str(255, required=True)
    body = fields.Str(allow_none=True)
    occurred_at = fields.AwareDateTime()
    user_id = fields.Int(dump_only=True)
    entity_type = _str(64, allow_none=True)
    entity_id = _str(64, allow_none=True)
    source = fields.Str(dump_only=True)
    data = fields.Dict()
    created_at = fields.AwareDateTime(dump_only=True)


class InteractionListArgs(CursorPageArgs):
    customer_id = Id()
    channel = fields.Str()


class TimelineArgs(Schema):
    before = fields.AwareDateTime()
    channel = fields.Str()
    limit = PageSize(50)


class ContactListArgs(CursorPageArgs):
    customer_id = Id()
    q = Search()


class DuplicateSchema(Schema):
    customer_id = Id()
    score = fields.Float()
    reasons = fields.List(fields.Str())


class DuplicateGroupSchema(Schema):
    reason = fields.Str()
    value = fields.Str()
    customer_ids = fields.List(fields.Int())


class MergeSchema(Schema):
    loser_id = Id(required=True, metadata={"description": "The customer merged into this one"})


class PanelSchema(Schema):
    key = fields.Str()
    title = fields.Str()
    order = fields.Int()
    rows = fields.List(fields.List(fields.Raw()))
    items = fields.List(fields.Dict())


CustomerPage = page_of(CustomerSchema(exclude=("contacts", "addresses")), "CustomerPage", cursor=True)
ContactPage = page_of(ContactSchema, "ContactPage", cursor=True)
InteractionPage = page_of(InteractionSchema, "InteractionPage", cursor=True)
