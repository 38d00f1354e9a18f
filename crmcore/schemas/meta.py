"""Schemas of the entity metadata API (/api/v1/meta/entities)."""
from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as f


class ChoiceSchema(Schema):
    value = f.Raw(required=True)
    label = f.String(required=True)


class EntityFieldSchema(Schema):
    name = f.String(required=True)
    label = f.String(required=True)
    type = f.String(required=True, metadata={"description": "str, int, num, money, date, datetime, bool, json"})
    max_length = f.Integer(allow_none=True)
    required = f.Boolean()
    choices = f.List(f.Nested(ChoiceSchema))
    filterable = f.Boolean()
    sortable = f.Boolean()
    source = f.String(metadata={"description": "column, custom or computed"})
    related = f.String(allow_none=True, metadata={"description": "the entity a foreign key points to"})


class RelatedSchema(Schema):
    field = f.String(required=True)
    entity = f.String(required=True)
    label = f.String(required=True)


class EntitySummarySchema(Schema):
    name = f.String(required=True)
    label = f.String(required=True)


class EntityMetaSchema(EntitySummarySchema):
    fields = f.List(f.Nested(EntityFieldSchema))  # type: ignore[assignment]  # the API's key; a declared field
    related = f.List(f.Nested(RelatedSchema))

MAX_SAMPLE = 20  # records a condition preview shows at most


class MatchesQuerySchema(Schema):
    condition = f.Raw(allow_none=True, load_default=None)
    limit = f.Integer(load_default=10, validate=validate.Range(min=0, max=MAX_SAMPLE))


class MatchSchema(Schema):
    id = f.Integer(required=True)
    title = f.String(required=True)


class MatchesSchema(Schema):
    count = f.Integer(required=True)
    sample = f.List(f.Nested(MatchSchema))
