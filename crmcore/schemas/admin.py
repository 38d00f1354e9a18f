"""Schemas for custom fields and users."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


class CustomFieldSchema(Schema):
    id = fields.Int(dump_only=True)
    entity = fields.Str(load_default="customer")
    name = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    label = fields.Str(validate=validate.Length(max=120))
    type = fields.Str(load_default="text")
    required = fields.Bool(load_default=False)
    choices = fields.List(fields.Raw(), load_default=list)
    help_text = fields.Str(allow_none=True)
    position = fields.Int(load_default=0, validate=validate.Range(min=-1_000_000, max=1_000_000))
    active = fields.Bool(dump_only=True)


class CustomFieldUpdateSchema(CustomFieldSchema):
    class Meta:
        exclude = ("entity", "name")


class UserSchema(Schema):
    id = fields.Int()
    username = fields.Str()
    email = fields.Str(allow_none=True)
    full_name = fields.Str(allow_none=True)
    role = fields.Function(lambda u: u.role.name if u.role else None)
    scope = fields.Function(lambda u: u.role.scope if u.role else None)
    permissions = fields.Function(lambda u: sorted(u.role.permissions or []) if u.role else [])
    team = fields.Function(lambda u: u.team.name if u.team else None)
    locale = fields.Str(allow_none=True)
    timezone = fields.Str(allow_none=True)
