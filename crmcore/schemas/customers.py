"""Schemas for customers, contacts, addresses, interactions, duplicates and merges."""
from __future__ import annotations


from marshmallow import Schema, ValidationError, fields, validate

from ..i18n import _
from ..models import Address, Contact, Customer, Interaction, Tag
from ..models.customer import STAGES
from .columns import BLANK, Country, Currency, email, length_of, non_negative, text
from .common import Id, CursorPageArgs, PageSize, Search, page_of

TAG_MAX: int = length_of(Tag.name) or 120  # the column is String(120)


def qq_number(value: str) -> str:
    """A QQ number has digits only."""
    if value and not value.isdigit():
        raise ValidationError([_("A QQ number has digits only.")])
    return value


class AddressSchema(Schema):
    id = fields.Int(dump_only=True)
    customer_id = Id(dump_only=True)
    kind = text(Address.kind, load_default="office")
    line1 = text(Address.line1, required=True)
    line2 = text(Address.line2)
    city = text(Address.city)
    region = text(Address.region)
    postcode = text(Address.postcode)
    country = Country(load_default="CN", error_messages={"null": BLANK}, metadata={"maxLength": length_of(Address.country)})
    is_primary = fields.Bool(load_default=False)


class ContactSchema(Schema):
    id = fields.Int(dump_only=True)
    customer_id = Id(required=True)
    name = text(Contact.name, required=True)
    title = text(Contact.title)
    is_primary = fields.Bool()
    phone = text(Contact.phone)
    mobile = text(Contact.mobile)
    email = email(Contact.email)
    wechat = text(Contact.wechat)
    qq = text(Contact.qq, validators=[qq_number])
    weibo = text(Contact.weibo)
    other = text(Contact.other)
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
    code = text(Customer.code, metadata={"description": "Unique code; generated when omitted"})
    name = text(Customer.name, required=True)
    kind = text(Customer.kind, load_default="organization")
    stage = text(Customer.stage, load_default="lead")
    level = text(Customer.level)
    source_channel = text(Customer.source_channel)
    industry = text(Customer.industry)
    website = text(Customer.website)
    phone = text(Customer.phone)
    email = email(Customer.email)
    credit_limit = fields.Decimal(as_string=True, allow_none=True, places=2, validate=non_negative)
    currency = Currency(error_messages={"null": BLANK}, metadata={"maxLength": length_of(Customer.currency)})
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
    referral_code = fields.Str(load_only=True, allow_none=True, validate=validate.Length(max=64), metadata={
        "description": "The referral code that brought the customer (a referral plugin records who referred whom)"})


    def _dump_tags(self, obj: object) -> list[str]:
        return [t.name for t in getattr(obj, "tags", [])]

    def _load_tags(self, value: object) -> list[str]:
        # blank names are left out (by the service), as a spreadsheet's empty cells are
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v.strip()) <= TAG_MAX for v in value):
            raise ValidationError([_("Must be a list of tag names (at most %(n)s characters each).", n=TAG_MAX)])
        return value


class CustomerUpdateSchema(CustomerSchema):
    class Meta:
        exclude = ("contacts", "addresses", "referral_code")  # only a new customer is referred

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
    channel = text(Interaction.channel, required=True, error_messages={
        "required": _("Say which channel (phone, email, wechat, qq, visit, ...).")})
    direction = text(Interaction.direction, load_default="inbound")
    subject = text(Interaction.subject, required=True, error_messages={"required": _("A subject is required.")})
    body = fields.Str(allow_none=True)
    occurred_at = fields.AwareDateTime()
    user_id = fields.Int(dump_only=True)
    entity_type = text(Interaction.entity_type)
    entity_id = text(Interaction.entity_id)
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
    keep_from_loser = fields.List(fields.Str(validate=validate.Length(max=64)), validate=validate.Length(max=20),
                                  load_default=list, metadata={
                                      "description": "Fields whose value is taken from the merged customer"})


class PanelSchema(Schema):
    key = fields.Str()
    title = fields.Str()
    order = fields.Int()
    rows = fields.List(fields.List(fields.Raw()))
    items = fields.List(fields.Dict())


CustomerPage = page_of(CustomerSchema(exclude=("contacts", "addresses")), "CustomerPage", cursor=True)
ContactPage = page_of(ContactSchema, "ContactPage", cursor=True)
InteractionPage = page_of(InteractionSchema, "InteractionPage", cursor=True)
