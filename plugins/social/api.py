"""/api/v1/referrals: referral codes, referrals, a customer's tree and social value, top advocates (JSON or CSV),
rewards and the programme's settings; and the public referral link ``/r/<code>`` (no login, rate limited)."""
from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response
from marshmallow import Schema, fields, validate

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import expected_version, json_body, page, with_etag
from crmcore.i18n import _
from crmcore.models import Customer, User
from crmcore.schemas.common import PageArgs, page_of
from crmcore.services.validation import load

from .labels import REFUSALS, REWARD_KINDS, REWARD_ROLES, REWARD_STATES, SOURCES, word
from .models import REWARD_STATES as STATE_CODES, SOURCES as SOURCE_CODES
from .services.programme import ProgrammeSchema

blp = Blueprint("social", __name__, url_prefix="/api/v1/referrals", description="Referrals and social value")


def blueprints() -> list[Any]:
    from .public import bp

    return [blp, bp]


class CodeIn(Schema):
    customer_id = fields.Int(allow_none=True)
    user_id = fields.Int(allow_none=True)


class CodeOut(Schema):
    code = fields.Str()
    link = fields.Str()
    customer_id = fields.Int(allow_none=True)
    user_id = fields.Int(allow_none=True)
    owner = fields.Str()


class ReferralIn(Schema):
    code = fields.Str(required=True, validate=validate.Length(min=1, max=16))
    customer_id = fields.Int(allow_none=True)
    lead_id = fields.Int(allow_none=True)
    source = fields.Str(load_default="api", validate=validate.OneOf(SOURCE_CODES))


class ReferralOut(Schema):
    id = fields.Int()
    referrer_customer_id = fields.Int(allow_none=True)
    referrer_user_id = fields.Int(allow_none=True)
    referrer = fields.Str(allow_none=True)
    referee_customer_id = fields.Int(allow_none=True)
    referee = fields.Str(allow_none=True)
    lead_id = fields.Int(allow_none=True)
    source = fields.Str()
    source_label = fields.Str()
    created_at = fields.AwareDateTime()


class ReferralArgs(PageArgs):
    customer_id = fields.Int()


class NodeOut(Schema):
    id = fields.Int()
    name = fields.Str(allow_none=True)
    visible = fields.Bool()
    depth = fields.Int()
    parent_id = fields.Int(allow_none=True)


class TreeOut(Schema):
    customer = fields.Dict()
    max_depth = fields.Int()
    ancestors = fields.List(fields.Nested(NodeOut))
    descendants = fields.List(fields.Nested(NodeOut))


class TreeArgs(Schema):
    depth = fields.Int(validate=validate.Range(min=1, max=50))


class ValueOut(Schema):
    customer_id = fields.Int()
    social_value = fields.Decimal(as_string=True)
    currency = fields.Str()
    referral_count = fields.Int()
    referral_reach = fields.Int()
    computed_at = fields.AwareDateTime(allow_none=True)


class AdvocateOut(Schema):
    customer_id = fields.Int()
    name = fields.Str()
    code = fields.Str()
    social_value = fields.Decimal(as_string=True)
    referral_count = fields.Int()
    referral_reach = fields.Int()


class AdvocateArgs(Schema):
    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=1000))


class RewardOut(Schema):
    id = fields.Int()
    referral_id = fields.Int()
    customer_id = fields.Int()
    customer = fields.Str()
    role = fields.Str()
    role_label = fields.Str()
    kind = fields.Str()
    kind_label = fields.Str()
    points = fields.Int(allow_none=True)
    order_id = fields.Int(allow_none=True)
    status = fields.Str()
    status_label = fields.Str()
    reason = fields.Str(allow_none=True)
    reason_label = fields.Str()
    due_at = fields.AwareDateTime(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)


class RewardArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf(STATE_CODES))
    customer_id = fields.Int()


class ProgrammeOut(ProgrammeSchema):
    version = fields.Int(dump_only=True)


class RecomputeOut(Schema):
    customers = fields.Int()


def _code_out(ctx: Any, row: Any) -> dict[str, Any]:
    from .services.codes import owner_name

    return {"code": row.code, "link": f"/r/{row.code}", "customer_id": row.customer_id, "user_id": row.user_id,
            "owner": owner_name(ctx, row)}


def _referral_out(ctx: Any, r: Any) -> dict[str, Any]:
    referrer = (ctx.session.get(Customer, r.referrer_customer_id) if r.referrer_customer_id else None)
    user = ctx.session.get(User, r.referrer_user_id) if r.referrer_user_id and referrer is None else None
    referee = ctx.session.get(Customer, r.referee_customer_id) if r.referee_customer_id else None
    return {"id": r.id, "referrer_customer_id": r.referrer_customer_id, "referrer_user_id": r.referrer_user_id,
            "referrer": referrer.name if referrer else ((user.full_name or user.username) if user else None),
            "referee_customer_id": r.referee_customer_id, "referee": referee.name if referee else None,
            "lead_id": r.lead_id, "source": r.source, "source_label": word(SOURCES, r.source), "created_at": r.created_at}


def _reward_out(ctx: Any, r: Any) -> dict[str, Any]:
    customer = ctx.session.get(Customer, r.customer_id)
    return {"id": r.id, "referral_id": r.referral_id, "customer_id": r.customer_id,
            "customer": customer.name if customer else "", "role": r.role, "role_label": word(REWARD_ROLES, r.role),
            "kind": r.kind, "kind_label": word(REWARD_KINDS, r.kind), "points": r.points, "order_id": r.order_id,
            "status": r.status, "status_label": word(REWARD_STATES, r.status), "reason": r.reason,
            "reason_label": word(REFUSALS, r.reason), "due_at": r.due_at, "decided_at": r.decided_at}


@blp.route("/codes", methods=["POST"])
@json_body(blp, CodeIn)
@blp.response(200, CodeOut)
def make_code(data: dict[str, Any]) -> Any:
    """The referral code and link of a customer or a rep (made on first asking)"""
    from .services.codes import code_for

    ctx = current_ctx()
    clean = load(CodeIn(), data, partial=False, message=_("The request is not valid; see 'errors' for each field."))
    return _code_out(ctx, code_for(ctx, customer_id=clean.get("customer_id"), user_id=clean.get("user_id")))


@blp.route("")
@blp.arguments(ReferralArgs, location="query")
@blp.response(200, page_of(ReferralOut, "ReferralPage"))
def list_referrals(args: dict[str, Any]) -> Any:
    """Referrals you may see, newest first (of one customer, on either side, with ``customer_id``)"""
    from .services.referrals import list_referrals as svc

    ctx = current_ctx()
    items, total = svc(ctx, customer_id=args.get("customer_id"), page=args["page"], page_size=args["page_size"])
    return page([_referral_out(ctx, r) for r in items], total, args)


@blp.route("", methods=["POST"])
@json_body(blp, ReferralIn)
@blp.response(201, ReferralOut)
def record(data: dict[str, Any]) -> Any:
    """Record that the owner of ``code`` brought a customer or a lead (a customer keeps their first referrer)"""
    from .services.referrals import record_referral

    ctx = current_ctx()
    clean = load(ReferralIn(), data, partial=False, message=_("The referral is not valid."))
    referral = record_referral(ctx, clean["code"], customer_id=clean.get("customer_id"),
                               lead_id=clean.get("lead_id"), source=clean["source"])
    return _referral_out(ctx, referral), 201


@blp.route("/tree/<int:customer_id>")
@blp.arguments(TreeArgs, location="query")
@blp.response(200, TreeOut)
def tree(args: dict[str, Any], customer_id: int) -> Any:
    """A customer's referral tree: ancestors nearest first, descendants level by level"""
    from .services.tree import referral_tree

    return referral_tree(current_ctx(), customer_id, args.get("depth"))


@blp.route("/social-value/<int:customer_id>")
@blp.response(200, ValueOut)
def social_value(customer_id: int) -> Any:
    """A customer's social value (base currency), successful referrals and reach, as last computed"""
    from crmcore.services.customers import get_customer
    from plugins.sales.services.money import base_currency

    from .services.value import value_of

    ctx = current_ctx()
    ctx.require("social.read")
    get_customer(ctx, customer_id)
    return {**value_of(ctx, customer_id), "currency": base_currency(ctx)}


@blp.route("/top-advocates")
@blp.arguments(AdvocateArgs, location="query")
@blp.response(200, AdvocateOut(many=True))
def top_advocates(args: dict[str, Any]) -> Any:
    """The customers with the highest social value"""
    from .services.value import top_advocates as svc

    return svc(current_ctx(), limit=args["limit"])


@blp.route("/top-advocates/csv")
@blp.arguments(AdvocateArgs, location="query")
@blp.response(200, content_type="text/csv", description="The top advocates, headers in the reader's language")
def top_advocates_csv(args: dict[str, Any]) -> Any:
    """The customers with the highest social value as CSV (UTF-8 with BOM)"""
    from .services.value import top_advocates as svc

    return advocates_csv(svc(current_ctx(), limit=args["limit"]))


def advocates_csv(rows: list[dict[str, Any]]) -> Response:
    """The top advocates as CSV with headers in the reader's language (UTF-8 with BOM for Excel)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(h) for h in (_("Customer"), _("Code"), _("Social value"), _("Successful referrals"),
                                      _("Referral reach"))])
    for r in rows:
        writer.writerow([_cell(r["name"]), _cell(r["code"]), r["social_value"], r["referral_count"],
                         r["referral_reach"]])
    return Response("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=top-advocates.csv"})


def _cell(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@blp.route("/rewards")
@blp.arguments(RewardArgs, location="query")
@blp.response(200, page_of(RewardOut, "RewardPage"))
def rewards(args: dict[str, Any]) -> Any:
    """Referral rewards, newest first: pending, granted, refused (with the reason in words) or cancelled"""
    from .services.rewards import list_rewards

    ctx = current_ctx()
    items, total = list_rewards(ctx, status=args.get("status"), customer_id=args.get("customer_id"),
                                page=args["page"], page_size=args["page_size"])
    return page([_reward_out(ctx, r) for r in items], total, args)


@blp.route("/programme")
@blp.response(200, ProgrammeOut)
def get_programme() -> Any:
    """The referral programme's settings; the ETag carries its version"""
    from crmcore.services.unit import unit_of_work

    from .services.programme import programme

    ctx = current_ctx()
    ctx.require("social.read")
    with unit_of_work(ctx):
        row = programme(ctx)
    return with_etag(row, row)


@blp.route("/programme", methods=["PATCH"])
@json_body(blp, ProgrammeSchema)
@blp.response(200, ProgrammeOut)
def patch_programme(data: dict[str, Any]) -> Any:
    """Change the referral programme (If-Match or ``version`` against lost updates)"""
    from .services.programme import update_programme

    version, if_match = expected_version()
    row = update_programme(current_ctx(), data, expected_version=version, if_match=if_match)
    return with_etag(row, row)


@blp.route("/recompute", methods=["POST"])
@blp.response(200, RecomputeOut)
def recompute() -> Any:
    """Recompute every customer's social value now"""
    from .services.value import recompute_all

    ctx = current_ctx()
    ctx.require("social.manage")
    return {"customers": recompute_all(ctx)}
