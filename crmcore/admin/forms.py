"""Admin forms: explicit field lists (no scaffolding from columns) and custom-field inputs."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask_admin.contrib.sqla.fields import QuerySelectField
from markupsafe import escape
from sqlalchemy import select
from wtforms import (BooleanField, HiddenField, IntegerField, PasswordField, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..i18n import lazy_gettext as _l
from ..models import Customer, Role, Team, User
from ..models.customer import KINDS, STAGES
from ..models.interaction import CHANNEL_LABELS, DIRECTIONS
from ..services import access
from .views import AdminForm, service_context

KIND_CHOICES = [("organization", _l("Organisation")), ("person", _l("Person"))]
STAGE_CHOICES = [("lead", _l("Lead")), ("prospect", _l("Prospect")), ("customer", _l("Customer")),
                 ("inactive", _l("Inactive"))]
DIRECTION_CHOICES = [("inbound", _l("Inbound")), ("outbound", _l("Outbound")), ("internal", _l("Internal"))]
CHANNEL_CHOICES = list(CHANNEL_LABELS.items())  # declared once, with the model
# The words shown for stored codes (channels, directions, stages, kinds); the `label` filter uses it.
CODE_LABELS = {**dict(CHANNEL_CHOICES), **dict(DIRECTION_CHOICES), **dict(STAGE_CHOICES), **dict(KIND_CHOICES),
               "mobile": _l("Mobile"), "office": _l("office"), "billing": _l("billing"), "shipping": _l("shipping"),
               "home": _l("home"), "warehouse": _l("warehouse")}


# the default roles' names in words (a role an admin adds keeps the name it was given)
ROLE_LABELS = {"admin": _l("Administrator"), "manager": _l("Manager"), "sales": _l("Sales rep"),
               "service": _l("Service agent"), "analyst": _l("Analyst")}


def role_label(role: Any) -> str:
    """The reader's word for a role (a Role or its name)."""
    name = getattr(role, "name", role)
    if name is None:
        return ""
    label = ROLE_LABELS.get(str(name))
    return str(label) if label is not None else str(name)


# where a record came from (an interaction's, an audit entry's ``source``); a plugin's own name shows as written
SOURCE_LABELS = {"manual": _l("Entered by hand"), "admin": _l("Admin"), "api": "API", "import": _l("Import"),
                 "demo": _l("Demo data"), "system": _l("System"), "scheduler": _l("Scheduled job"),
                 "cli": _l("Command line"), "sales": _l("Sales"), "service": _l("Service"), "erp": "ERP",
                 "oa": "OA", "portal": _l("Service portal"), "web": _l("Web form"), "channels": _l("Messaging channels")}


def source_label(value: Any) -> str:
    """The reader's words for a record's source (``plugin:service`` reads as the plugin's word)."""
    if value is None:
        return ""
    name = str(value).removeprefix("plugin:")
    label = SOURCE_LABELS.get(name)
    return str(label) if label is not None else name


def code_label(value: Any) -> str:
    """The reader's word for a stored code such as ``wechat`` or ``outbound``; unknown codes as they are."""
    if value is None:
        return ""
    label = CODE_LABELS.get(str(value))
    return str(label) if label is not None else str(value)
assert {k for k, _ in KIND_CHOICES} == set(KINDS) and {k for k, _ in STAGE_CHOICES} == set(STAGES)
assert {k for k, _ in DIRECTION_CHOICES} == set(DIRECTIONS)

LOCALE_CHOICES = [("", "—"), ("zh_CN", "简体中文"), ("en", "English")]
_SPLIT = re.compile(r"[,，;；\n]+")


def split_list(text: str | None) -> list[str]:
    """``"VIP, 批发，Export"`` -> ``["VIP", "批发", "Export"]`` (ASCII and full-width commas)."""
    return [p.strip() for p in _SPLIT.split(text or "") if p.strip()]


def blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def active_users() -> Any:
    return service_context().session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()


def assignable_owners() -> list[User]:
    """Users the actor may make owner of a customer: everyone, the team, or just themselves."""
    ctx = service_context()
    users = list(active_users())
    if ctx.scope == "all":
        return users
    if ctx.scope == "team":
        teams = set(access.team_ids(ctx))
        return [u for u in users if u.id == ctx.actor_id or (u.team_id is not None and u.team_id in teams)]
    return [u for u in users if u.id == ctx.actor_id]


def visible_customers() -> Any:
    ctx = service_context()
    stmt = access.scope_customers(ctx, select(Customer).where(Customer.deleted_at.is_(None),
                                                              Customer.merged_into_id.is_(None)))
    return ctx.session.scalars(stmt.order_by(Customer.name).limit(2000)).unique().all()


def all_roles() -> Any:
    return service_context().session.scalars(select(Role).order_by(Role.name)).all()


def all_teams() -> Any:
    return service_context().session.scalars(select(Team).order_by(Team.name)).all()


def user_label(user: User) -> str:
    return f"{user.full_name} ({user.username})" if user.full_name else user.username


# The record forms below carry no rules of their own: the service loads the entity's schema
# (crmcore.services.validation) and its field errors are shown on the form, so the admin refuses
# exactly what the API, the importer and the ERP sync refuse, in the same words.
REQUIRED = {"required": True}  # the browser's hint only; the service decides


class CustomerForm(AdminForm):
    name = StringField(_l("Name"), render_kw=REQUIRED)
    code = StringField(_l("Code"), description=_l("Leave empty to generate one."))
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES, default="organization", validate_choice=False)
    stage = SelectField(_l("Stage"), choices=STAGE_CHOICES, default="lead", validate_choice=False)
    level = StringField(_l("Level"), description=_l("For example A, B or C."))
    owner = QuerySelectField(_l("Owner"), query_factory=assignable_owners, get_label=user_label, allow_blank=True,
                             blank_text="—")
    tag_names = StringField(_l("Tags"), description=_l("Separate tags with commas."))
    source_channel = StringField(_l("Source channel"))
    industry = StringField(_l("Industry"))
    phone = StringField(_l("Phone"))
    email = StringField(_l("E-mail"))
    website = StringField(_l("Website"))
    credit_limit = StringField(_l("Credit limit"), render_kw={"inputmode": "decimal"})
    currency = StringField(_l("Currency"), description=_l("ISO code such as CNY or USD."))
    notes = TextAreaField(_l("Notes"))
    version = HiddenField()


CUSTOMER_FIELDS = ("name", "code", "kind", "stage", "level", "source_channel", "industry", "phone", "email",
                   "website", "credit_limit", "currency", "notes")


def attribute_field(field: Any) -> Any:
    """A form input for one CustomField; the service validates the value."""
    label = field.label + (" *" if field.required else "")
    # Flask-Admin renders a field's description with |safe: an admin's help text is text, not HTML
    desc = escape(field.help_text or "")
    choices = [(str(c), str(c)) for c in (field.choices or [])]
    if field.type == "choice":
        return SelectField(label, choices=[("", "—")] + choices, description=desc, validators=[Optional()])
    if field.type == "multichoice":
        return SelectMultipleField(label, choices=choices, description=desc, validators=[Optional()])
    if field.type == "boolean":
        return SelectField(label, choices=[("", "—"), ("true", _l("Yes")), ("false", _l("No"))], description=desc,
                           validators=[Optional()])
    if field.type == "date":
        return StringField(label, description=desc, render_kw={"type": "date"})
    if field.type in ("integer", "decimal"):
        return StringField(label, description=desc, render_kw={"inputmode": "decimal"})
    return StringField(label, description=desc)


def attribute_value(value: Any) -> Any:
    """A stored attribute as the form shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [str(v) for v in value]
    return None if value is None else str(value)


class ContactForm(AdminForm):
    customer = QuerySelectField(_l("Customer"), query_factory=visible_customers, validators=[DataRequired()])
    name = StringField(_l("Name"), render_kw=REQUIRED)
    title = StringField(_l("Title"))
    is_primary = BooleanField(_l("Primary contact"))
    phone = StringField(_l("Phone"))
    mobile = StringField(_l("Mobile"))
    email = StringField(_l("E-mail"))
    wechat = StringField(_l("WeChat"))
    qq = StringField(_l("QQ"))
    weibo = StringField(_l("Weibo"))
    other = StringField(_l("Other"))
    version = HiddenField()


CONTACT_FIELDS = ("name", "title", "is_primary", "phone", "mobile", "email", "wechat", "qq", "weibo", "other")


class InteractionForm(AdminForm):
    customer = QuerySelectField(_l("Customer"), query_factory=visible_customers, validators=[DataRequired()])
    channel = SelectField(_l("Channel"), choices=CHANNEL_CHOICES, default="phone", validate_choice=False)
    direction = SelectField(_l("Direction"), choices=DIRECTION_CHOICES, default="outbound", validate_choice=False)
    subject = StringField(_l("Subject"), render_kw=REQUIRED)
    body = TextAreaField(_l("Notes"))


class QuickInteractionForm(AdminForm):
    """Logging a touchpoint from the customer page (the customer is the page's)."""

    channel = SelectField(_l("Channel"), choices=CHANNEL_CHOICES, default="phone", validate_choice=False)
    direction = SelectField(_l("Direction"), choices=DIRECTION_CHOICES, default="outbound", validate_choice=False)
    subject = StringField(_l("Subject"), render_kw=REQUIRED)
    body = TextAreaField(_l("Notes"), render_kw={"rows": 2})


class ConfirmForm(AdminForm):
    """A button that posts: just the CSRF token and an id."""

    target = HiddenField()


class CustomFieldForm(AdminForm):
    entity = SelectField(_l("Record type"), choices=[("customer", _l("Customer")), ("contact", _l("Contact"))],
                         validate_choice=False)
    name = StringField(_l("Name"), render_kw=REQUIRED,
                       description=_l("Lower-case letters, digits and _; cannot be changed later."))
    label = StringField(_l("Label"), description=_l("Empty: the name."))
    type = SelectField(_l("Type"), choices=[], validate_choice=False)
    required = BooleanField(_l("Required"))
    choices = TextAreaField(_l("Choices"), description=_l("For choice fields: one per line or separated by commas."),
                            render_kw={"rows": 3})
    help_text = TextAreaField(_l("Help text"), render_kw={"rows": 2})
    position = IntegerField(_l("Sort order"), default=0, validators=[Optional()])
    active = BooleanField(_l("Active"), default=True)


class UserCreateForm(AdminForm):
    username = StringField(_l("Username"), render_kw=REQUIRED)
    full_name = StringField(_l("Full name"))
    email = StringField(_l("E-mail"))
    role = QuerySelectField(_l("Role"), query_factory=all_roles, get_label=role_label, validators=[DataRequired()])
    team = QuerySelectField(_l("Team"), query_factory=all_teams, allow_blank=True, blank_text="—")
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES, default="", validators=[Optional()])
    password = PasswordField(_l("Password"), validators=[DataRequired()],
                             render_kw={"autocomplete": "new-password"})


class UserEditForm(AdminForm):
    full_name = StringField(_l("Full name"))
    email = StringField(_l("E-mail"))
    role = QuerySelectField(_l("Role"), query_factory=all_roles, get_label=role_label, validators=[DataRequired()])
    team = QuerySelectField(_l("Team"), query_factory=all_teams, allow_blank=True, blank_text="—")
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES, default="", validators=[Optional()])
    timezone = StringField(_l("Time zone"), description="Asia/Shanghai")
    active = BooleanField(_l("Active"), description=_l("A deactivated user cannot log in or use API tokens."))
    password = PasswordField(_l("New password"), validators=[Optional()],
                             description=_l("Leave empty to keep the current password."),
                             render_kw={"autocomplete": "new-password"})


class CheckboxListField(SelectMultipleField):
    """Several choices as a list of checkboxes (rendered with ``class="crm-checks"``)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RoleForm(AdminForm):
    name = StringField(_l("Name"), render_kw=REQUIRED)
    description = TextAreaField(_l("Description"), render_kw={"rows": 2})
    scope = SelectField(_l("Record scope"), choices=[("own", _l("Own records")), ("team", _l("The team's records")),
                                                     ("all", _l("All records"))], validate_choice=False)
    permissions = CheckboxListField(_l("Permissions"), choices=[])


class TeamForm(AdminForm):
    name = StringField(_l("Name"), render_kw=REQUIRED)
    manager = QuerySelectField(_l("Manager"), query_factory=active_users, get_label=user_label, allow_blank=True,
                               blank_text="—")


class TokenForm(AdminForm):
    user = QuerySelectField(_l("User"), query_factory=active_users, get_label=user_label, validators=[DataRequired()])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)], default="default",
                       description=_l("What the token is for, e.g. 'ERP sync'."))
    expires_days = IntegerField(_l("Expires after (days)"), validators=[Optional(), NumberRange(min=1, max=3650)],
                                description=_l("Leave empty for a token that does not expire."))


def decimal_or_none(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))
