"""Schemas for custom fields and users."""
from __future__ import annotations

import re

from marshmallow import Schema, fields, validate

from ..i18n import _
from ..models import CustomField, Role, Team, User
from .columns import email, text

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CustomFieldSchema(Schema):
    id = fields.Int(dump_only=True)
    entity = text(CustomField.entity, load_default="customer")
    name = text(CustomField.name, required=True, validators=[validate.Regexp(
        FIELD_NAME, error=_("Use lower-case letters, digits and _, starting with a letter."))])
    label = text(CustomField.label, empty=True, metadata={"description": "Empty: the name"})
    type = text(CustomField.type, load_default="text")
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


class RoleSchema(Schema):
    """A role's own fields; its permissions and scope are checked against the registry by the service."""

    name = text(Role.name, required=True, error_messages={"required": _("A role needs a name.")})
    description = fields.Str(allow_none=True)
    permissions = fields.List(fields.Str(), allow_none=True)
    scope = text(Role.scope)


class TeamSchema(Schema):
    name = text(Team.name, required=True, error_messages={"required": _("A team needs a name.")})
    manager_id = fields.Int(allow_none=True)


class UserProfileSchema(Schema):
    """A user's profile fields as the service checks them (create and update alike); the username,
    password, role and team are checked by the service."""

    email = email(User.email)
    full_name = text(User.full_name)
    timezone = text(User.timezone)
