"""/api/v1/marketing: audiences (with a live preview), templates, campaigns (start, pause, resume, test send,
results) and customers' consents. Bodies are loaded by the services' one validation (422 per field)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import json_body, with_etag

from ..services import audiences, campaign_schema, campaigns, consent, results, templates

blp = Blueprint("marketing", __name__, url_prefix="/api/v1/marketing", description="Marketing")


class AudienceOut(Schema):
    id = fields.Int()
    name = fields.Str()
    description = fields.Str(allow_none=True)
    condition = fields.Dict(allow_none=True)
    exclude = fields.List(fields.Int())
    version = fields.Int()


class PreviewIn(Schema):
    condition = fields.Dict(allow_none=True)
    exclude = fields.List(fields.Int(strict=True))


class MembersIn(Schema):
    customers = fields.List(fields.Str(), required=True, metadata={"description": "customer codes"})


class TemplateOut(templates.TemplateSchema):
    id = fields.Int()
    version = fields.Int()


class VariantOut(Schema):
    id = fields.Int()
    label = fields.Str()
    template_id = fields.Int(allow_none=True)


class CampaignOut(campaign_schema.CampaignSchema):
    id = fields.Int()
    variants = fields.List(fields.Nested(VariantOut))
    kind = fields.Str(metadata={"description": "oneoff or journey (its steps: .../steps)"})
    # a journey's audience is optional and its templates are its steps': both may be null when read
    audience_id = fields.Int(allow_none=True)
    template_id = fields.Int(allow_none=True)
    winner_variant_id = fields.Int(allow_none=True)
    ab_decided_at = fields.AwareDateTime(allow_none=True)
    status = fields.Str()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    version = fields.Int()


class ConsentOut(consent.ConsentSchema):
    id = fields.Int()
    customer_id = fields.Int()
    recorded_at = fields.AwareDateTime()


class TestIn(Schema):
    customer_id = fields.Int(allow_none=True, strict=True)


def _body(schema: type[Schema]) -> Any:
    return json_body(blp, schema)


# ---- audiences -------------------------------------------------------------------------------------

@blp.route("/audiences")
@blp.response(200, AudienceOut(many=True))
def list_audiences() -> Any:
    """The audiences, by name"""
    return audiences.list_audiences(current_ctx())


@blp.route("/audiences", methods=["POST"])
@_body(audiences.AudienceSchema)
@blp.response(201, AudienceOut)
def create_audience(data: dict[str, Any]) -> Any:
    """Define an audience: a condition over customers, and/or a static list, minus other audiences"""
    audience = audiences.create_audience(current_ctx(), data)
    return with_etag(audience, audience, 201)


@blp.route("/audiences/preview", methods=["POST"])
@blp.arguments(PreviewIn)
def preview_unsaved(data: dict[str, Any]) -> Any:
    """The size and a sample of an audience being edited (nothing saved)"""
    return audiences.preview(current_ctx(), condition=data.get("condition"), exclude=data.get("exclude"))


@blp.route("/audiences/<int:audience_id>")
@blp.response(200, AudienceOut)
def get_audience(audience_id: int) -> Any:
    """Get an audience"""
    audience = audiences.get_audience(current_ctx(), audience_id)
    return with_etag(audience, audience)


@blp.route("/audiences/<int:audience_id>", methods=["PATCH"])
@json_body(blp, audiences.AudienceSchema(partial=True))
@blp.response(200, AudienceOut)
def patch_audience(data: dict[str, Any], audience_id: int) -> Any:
    """Change an audience"""
    audience = audiences.update_audience(current_ctx(), audience_id, data)
    return with_etag(audience, audience)


@blp.route("/audiences/<int:audience_id>/preview")
def preview_audience(audience_id: int) -> Any:
    """The audience's size now and a sample of its customers"""
    return audiences.preview(current_ctx(), audience_id)


@blp.route("/audiences/<int:audience_id>/members", methods=["POST"])
@blp.arguments(MembersIn)
def add_members(data: dict[str, Any], audience_id: int) -> Any:
    """Put customers (by code) on the audience's static list; unknown codes are listed"""
    return audiences.add_members(current_ctx(), audience_id, data["customers"])


@blp.route("/audiences/<int:audience_id>/members", methods=["DELETE"])
@blp.arguments(MembersIn)
def remove_members(data: dict[str, Any], audience_id: int) -> Any:
    """Take customers (by code) off the static list"""
    return {"removed": audiences.remove_members(current_ctx(), audience_id, data["customers"])}


# ---- templates -------------------------------------------------------------------------------------

@blp.route("/templates")
@blp.response(200, TemplateOut(many=True))
def list_templates() -> Any:
    """The message templates"""
    return templates.list_templates(current_ctx())


@blp.route("/templates", methods=["POST"])
@_body(templates.TemplateSchema)
@blp.response(201, TemplateOut)
def create_template(data: dict[str, Any]) -> Any:
    """Write a template (unknown variables and syntax errors are refused, by part)"""
    template = templates.create_template(current_ctx(), data)
    return with_etag(template, template, 201)


@blp.route("/templates/<int:template_id>")
@blp.response(200, TemplateOut)
def get_template(template_id: int) -> Any:
    """Get a template"""
    template = templates.get_template(current_ctx(), template_id)
    return with_etag(template, template)


@blp.route("/templates/<int:template_id>", methods=["PATCH"])
@json_body(blp, templates.TemplateSchema(partial=True))
@blp.response(200, TemplateOut)
def patch_template(data: dict[str, Any], template_id: int) -> Any:
    """Change a template"""
    template = templates.update_template(current_ctx(), template_id, data)
    return with_etag(template, template)


# ---- campaigns -------------------------------------------------------------------------------------

@blp.route("/campaigns")
@blp.response(200, CampaignOut(many=True))
def list_campaigns() -> Any:
    """The campaigns, newest first"""
    return campaigns.list_campaigns(current_ctx())


@blp.route("/campaigns", methods=["POST"])
@_body(campaign_schema.CampaignSchema)
@blp.response(201, CampaignOut)
def create_campaign(data: dict[str, Any]) -> Any:
    """Prepare a campaign (a draft: nothing is sent until it starts)"""
    campaign = campaigns.create_campaign(current_ctx(), data)
    return with_etag(campaign, campaign, 201)


@blp.route("/campaigns/<int:campaign_id>")
@blp.response(200, CampaignOut)
def get_campaign(campaign_id: int) -> Any:
    """Get a campaign"""
    campaign = campaigns.get_campaign(current_ctx(), campaign_id)
    return with_etag(campaign, campaign)


@blp.route("/campaigns/<int:campaign_id>", methods=["PATCH"])
@json_body(blp, campaign_schema.CampaignSchema(partial=True))
@blp.response(200, CampaignOut)
def patch_campaign(data: dict[str, Any], campaign_id: int) -> Any:
    """Change a campaign that has not started"""
    campaign = campaigns.update_campaign(current_ctx(), campaign_id, data)
    return with_etag(campaign, campaign)


@blp.route("/campaigns/<int:campaign_id>/readiness")
def readiness(campaign_id: int) -> Any:
    """Who the campaign would reach now: audience, without address, without consent, suppressed"""
    ctx = current_ctx()
    return campaigns.readiness(ctx, campaigns.get_campaign(ctx, campaign_id))


@blp.route("/campaigns/<int:campaign_id>/start", methods=["POST"])
def start(campaign_id: int) -> Any:
    """Check, snapshot the audience and queue the send (422 with the reason when nothing can be sent)"""
    return campaigns.start(current_ctx(), campaign_id), 202


@blp.route("/campaigns/<int:campaign_id>/pause", methods=["POST"])
@blp.response(200, CampaignOut)
def pause(campaign_id: int) -> Any:
    """Stop sending after the current batch"""
    return campaigns.pause(current_ctx(), campaign_id)


@blp.route("/campaigns/<int:campaign_id>/resume", methods=["POST"])
@blp.response(200, CampaignOut)
def resume(campaign_id: int) -> Any:
    """Go on sending where it stopped"""
    return campaigns.resume(current_ctx(), campaign_id)


@blp.route("/campaigns/<int:campaign_id>/test", methods=["POST"])
@blp.arguments(TestIn)
def send_test(data: dict[str, Any], campaign_id: int) -> Any:
    """Send the message to your own e-mail address, rendered for one customer"""
    return {"sent_to": campaigns.send_test(current_ctx(), campaign_id, data.get("customer_id"))}


@blp.route("/campaigns/<int:campaign_id>/results")
def campaign_results(campaign_id: int) -> Any:
    """The funnel and the conversions against the control group, with the lift's 95% interval"""
    return results.report(current_ctx(), campaign_id)


# ---- consents --------------------------------------------------------------------------------------

@blp.route("/customers/<int:customer_id>/consents")
@blp.response(200, ConsentOut(many=True))
def consents(customer_id: int) -> Any:
    """A customer's consent statements, newest first (the latest per channel and purpose counts)"""
    return consent.history(current_ctx(), customer_id)


@blp.route("/customers/<int:customer_id>/consents", methods=["POST"])
@_body(consent.ConsentSchema)
@blp.response(201, ConsentOut)
def record_consent(data: dict[str, Any], customer_id: int) -> Any:
    """Record a consent or its withdrawal (a grant says what the customer agreed to)"""
    return consent.record(current_ctx(), customer_id, data), 201
