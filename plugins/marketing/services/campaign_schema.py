"""A campaign's one validation: its schema (the API documents it) and the checks against the database."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from sqlalchemy import select

from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import text
from crmcore.services.validation import load

from ..models import AB_METRICS, CHANNELS, PURPOSES, Audience, Campaign, MessageTemplate

MAX_VARIANTS = 5


class VariantSchema(Schema):
    label = fields.Str(required=True, validate=validate.Length(min=1, max=16))
    template_id = fields.Int(required=True, strict=True)


class CampaignSchema(Schema):
    name = text(Campaign.name, required=True)
    channel = fields.Str(load_default="email", validate=validate.OneOf(CHANNELS))
    purpose = fields.Str(load_default="marketing", validate=validate.OneOf(PURPOSES))
    audience_id = fields.Int(required=True, strict=True)
    template_id = fields.Int(required=True, strict=True)
    holdout_percent = fields.Int(load_default=0, strict=True, validate=validate.Range(min=0, max=50))
    scheduled_at = fields.AwareDateTime(allow_none=True)
    variants = fields.List(fields.Nested(VariantSchema), validate=validate.Length(max=MAX_VARIANTS),
                           metadata={"description": "A/B/n: two or more versions (label, template); none: no test"})
    ab_test_percent = fields.Int(load_default=0, strict=True, validate=validate.Range(min=0, max=100),
                                 metadata={"description": "share that tries the variants; 0: everyone, split evenly"})
    ab_metric = fields.Str(load_default="clicked", validate=validate.OneOf(AB_METRICS))
    ab_hours = fields.Int(load_default=24, strict=True, validate=validate.Range(min=1, max=720))


_SCHEMA = CampaignSchema()


def validate_campaign(ctx: ServiceContext, data: dict[str, Any], existing: Campaign | None) -> dict[str, Any]:
    """A campaign checked by ``CampaignSchema``: a name no other campaign has, an audience and a template that
    exist, a template written for the campaign's channel."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if values.get("name"):
            other = ctx.session.scalar(select(Campaign).where(Campaign.name == values["name"]))
            if other is not None and (existing is None or other.id != existing.id):
                errors["name"] = [_("A campaign named '%(name)s' exists.", name=values["name"])]
        if values.get("audience_id") is not None and ctx.session.get(Audience, values["audience_id"]) is None:
            errors["audience_id"] = [_("No such audience.")]
        channel = values.get("channel", existing.channel if existing else "email")
        if values.get("template_id") is not None:
            template = ctx.session.get(MessageTemplate, values["template_id"])
            if template is None:
                errors["template_id"] = [_("No such template.")]
            elif template.channel != channel:
                errors["template_id"] = [_("This template is written for another channel.")]
        variants = [v for v in values.get("variants") or [] if isinstance(v, dict)]
        if variants:
            labels = [str(v.get("label", "")).strip() for v in variants]
            found = {t.id: t for t in ctx.session.scalars(select(MessageTemplate).where(
                MessageTemplate.id.in_([v.get("template_id") for v in variants])))}
            if len(variants) < 2:
                errors["variants"] = [_("An A/B test needs at least two variants.")]
            elif len(set(labels)) != len(labels) or not all(labels):
                errors["variants"] = [_("Give each variant its own label.")]
            elif any(v.get("template_id") not in found or found[v["template_id"]].channel != channel for v in variants):
                errors["variants"] = [_("Each variant needs a template written for the campaign's channel.")]
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=_("The campaign is not valid."), check=check)
