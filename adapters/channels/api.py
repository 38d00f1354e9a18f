"""/api/v1/channels: accounts (secrets write-only), inbound messages, the unmatched queue (link, make a lead)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, take_id, with_etag
from crmcore.errors import ValidationError
from crmcore.i18n import _
from crmcore.schemas.common import Id, PageArgs

from . import accounts as account_svc
from . import inbox
from .accounts import ChannelAccountSchema
from .base import PLATFORMS
from .models import STATUSES

blp = Blueprint("channels", __name__, url_prefix="/api/v1/channels",
                description="Messaging channels: accounts, inbound messages, the unmatched queue")


class ChannelMessageSchema(Schema):
    id = fields.Int()
    platform = fields.Str()
    account = fields.Str()
    msg_id = fields.Str()
    sender = fields.Str()
    kind = fields.Str()
    event = fields.Str(allow_none=True)
    scene = fields.Str(allow_none=True)
    text = fields.Str(allow_none=True)
    received_at = fields.AwareDateTime()
    status = fields.Str()
    matched_by = fields.Str(allow_none=True)
    customer_id = fields.Int(allow_none=True)
    interaction_id = fields.Int(allow_none=True)
    lead_id = fields.Int(allow_none=True)
    ticket_id = fields.Int(allow_none=True)


class ChannelMessagePage(Schema):
    items = fields.List(fields.Nested(ChannelMessageSchema))
    total = fields.Int()
    page = fields.Int()
    page_size = fields.Int()


class ChannelMessageArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf(STATUSES))
    platform = fields.Str(validate=validate.OneOf(PLATFORMS))
    customer_id = Id()


class ChannelUnmatchedArgs(PageArgs):
    platform = fields.Str(validate=validate.OneOf(PLATFORMS))


class ChannelLinkSchema(Schema):
    customer_id = Id(required=True)


class ChannelLeadSchema(Schema):
    """The lead's fields, as the sales plugin's lead API takes them (its validation applies)."""

    name = fields.Str(required=True)
    company = fields.Str(allow_none=True)
    phone = fields.Str(allow_none=True)
    email = fields.Str(allow_none=True)
    message = fields.Str(allow_none=True)


class ChannelLinkResult(Schema):
    linked = fields.List(fields.Nested(ChannelMessageSchema))


class ChannelLeadResult(Schema):
    lead_id = fields.Int()


class ChannelAccountReplace(ChannelAccountSchema):
    """A PUT's body: the account's fields; its platform and account id do not change (ignored when sent)."""

    platform = fields.Str(metadata={"description": "Ignored: the account's platform does not change"})
    account = fields.Str(metadata={"description": "Ignored: the account id does not change"})


class ChannelAccountList(Schema):
    items = fields.List(fields.Nested(ChannelAccountSchema))


@blp.route("/accounts")
@blp.response(200, ChannelAccountList)
def list_accounts() -> Any:
    """List channel accounts (secrets are never returned, only which are set)"""
    return {"items": account_svc.list_accounts(current_ctx())}


@blp.route("/accounts", methods=["POST"])
@json_body(blp, ChannelAccountSchema)
@blp.response(201, ChannelAccountSchema)
def create_account(data: dict[str, Any]) -> Any:
    """Add a channel account (a WeChat Official Account by its app id, ...)"""
    row = account_svc.save_account(current_ctx(), data)
    return with_etag(row, row, 201)


@blp.route("/accounts/<int:account_id>")
@blp.response(200, ChannelAccountSchema)
def get_account(account_id: int) -> Any:
    """Get a channel account (with its ETag)"""
    row = account_svc.get_account(current_ctx(), account_id)
    return with_etag(row, row)


def _save(data: dict[str, Any], account_id: int, replace: bool) -> Any:
    ctx = current_ctx()
    version, if_match = expected_version()
    row = account_svc.save_account(ctx, data, account_svc.get_account(ctx, account_id), expected_version=version,
                                   if_match=if_match, replace=replace)
    return with_etag(row, row)


@blp.route("/accounts/<int:account_id>", methods=["PATCH"])
@json_body(blp, ChannelAccountSchema(partial=True))
@blp.response(200, ChannelAccountSchema)
def update_account(data: dict[str, Any], account_id: int) -> Any:
    """Change a channel account; an empty or missing secret keeps the stored one (If-Match: the ETag read, 412
    when stale; or ``version``, 409)"""
    return _save(data, account_id, replace=False)


@blp.route("/accounts/<int:account_id>", methods=["PUT"])
@json_body(blp, ChannelAccountReplace)
@blp.response(200, ChannelAccountSchema)
def replace_account(data: dict[str, Any], account_id: int) -> Any:
    """Replace a channel account's name, switches and settings (a setting left out is cleared; a secret left out
    or empty is kept; the platform and account id do not change). If-Match as for PATCH"""
    return _save(data, account_id, replace=True)


@blp.route("/accounts/<int:account_id>", methods=["DELETE"])
@blp.response(204)
def delete_account(account_id: int) -> Any:
    """Remove a channel account (its messages stay)"""
    account_svc.delete_account(current_ctx(), account_id)
    return ""


@blp.route("/messages")
@blp.arguments(ChannelMessageArgs, location="query")
@blp.response(200, ChannelMessagePage)
def list_messages(args: dict[str, Any]) -> Any:
    """Inbound messages, newest first"""
    filters = {k: v for k, v in args.items() if k not in ("page", "page_size")}
    items, total = inbox.list_messages(current_ctx(), page=args["page"], page_size=args["page_size"], **filters)
    return page(items, total, args)


@blp.route("/messages/<int:message_id>")
@blp.response(200, ChannelMessageSchema)
def get_message(message_id: int) -> Any:
    """Get an inbound message"""
    return inbox.get_message(current_ctx(), message_id)


@blp.route("/unmatched")
@blp.arguments(ChannelUnmatchedArgs, location="query")
@blp.response(200, ChannelMessagePage)
def list_unmatched(args: dict[str, Any]) -> Any:
    """The unmatched queue: messages whose sender no customer is known by"""
    items, total = inbox.list_messages(current_ctx(), status="unmatched", platform=args.get("platform"),
                                       page=args["page"], page_size=args["page_size"])
    return page(items, total, args)


@blp.route("/unmatched/<int:message_id>/link", methods=["POST"])
@json_body(blp, ChannelLinkSchema)
@blp.response(200, ChannelLinkResult)
def link(data: dict[str, Any], message_id: int) -> Any:
    """Link the sender to a customer: their queued messages go on the timeline, their id becomes an identity"""
    customer_id = take_id(ChannelLinkSchema(), dict(data), "customer_id")
    return {"linked": inbox.link(current_ctx(), message_id, customer_id)}


@blp.route("/unmatched/<int:message_id>/lead", methods=["POST"])
@json_body(blp, ChannelLeadSchema)
@blp.response(201, ChannelLeadResult)
def make_lead(data: dict[str, Any], message_id: int) -> Any:
    """Turn the sender into a lead (the sales plugin's lead service and validation)"""
    return {"lead_id": inbox.make_lead(current_ctx(), message_id, data)}, 201


def blueprints() -> list[Any]:
    return [blp]


class ChannelOAuthLinkSchema(Schema):
    account = fields.Str(required=True, metadata={"description": "The WeChat Official Account's app id"})
    customer_id = Id(required=True)
    next = fields.Str(allow_none=True, metadata={"description": "A path on this site to go to once linked"})


class ChannelOAuthLinkResult(Schema):
    url = fields.Str()


@blp.route("/oauth-links", methods=["POST"])
@json_body(blp, ChannelOAuthLinkSchema)
@blp.response(201, ChannelOAuthLinkResult)
def make_oauth_link(data: dict[str, Any]) -> Any:
    """A link that, opened in WeChat, links the follower to the customer (snsapi_base; valid 7 days)"""
    from .wechat_oauth import oauth_link

    values = dict(data)
    customer_id = take_id(ChannelOAuthLinkSchema(), values, "customer_id")
    account, next_path = values.get("account"), values.get("next")
    if not isinstance(account, str) or not isinstance(next_path, (str, type(None))):
        raise ValidationError(_("The OAuth link is not valid."), errors={
            k: [_("Not a valid string.")] for k, v in (("account", account), ("next", next_path or ""))
            if not isinstance(v, str)})
    return {"url": oauth_link(current_ctx(), account, customer_id, next_path)}, 201
