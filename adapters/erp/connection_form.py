"""The ERP connection's admin form: a labelled input per adapter setting, stream checkboxes and the ownership grid."""
from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup
from wtforms import BooleanField, PasswordField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from crmcore.admin.labels import field as field_label, record_type
from crmcore.admin.views import AdminForm
from crmcore.errors import ValidationError
from crmcore.i18n import gettext, lazy_gettext as _l
from crmcore.runtime import ServiceContext

from .base import COMMON_SETTINGS, Setting, all_settings, declared_settings
from .ownership import OWNED_FIELDS, default_owner, field_word

STREAM_LABELS = {"customers": _l("Customers"), "products": _l("Products"), "prices": _l("Prices"),
                 "orders": _l("Orders"), "invoices": _l("Invoices"), "payments": _l("Payments"),
                 "credit_limits": _l("Credit limits")}


def stream_label(code: str | None) -> str:
    """A stream (or what a sync issue names in its place: the push, a record type) in the reader's words."""
    if code == "push":
        return gettext("Push to the ERP")
    label = STREAM_LABELS.get(code or "")
    return str(label) if label is not None else record_type(code)


OWNER_WORDS = {"erp": _l("ERP wins"), "crm": _l("CRM wins")}
_NUMBER = re.compile(r"^[+-]?\d+$")


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (nothing ticked: an empty list)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConnectionForm(AdminForm):
    # the service checks the fields (connections.validate_connection): the same rules and words as the API
    name = StringField(_l("Name"), render_kw={"required": True})
    adapter = SelectField(_l("Adapter"), choices=[], validate_choice=False)
    secret = PasswordField(_l("Password / API key"), validators=[Optional()],
                           description=_l("Write-only: leave empty to keep the stored one."))
    overlap_seconds = StringField(_l("Overlap window (s)"), default="300")
    timeout_seconds = StringField(_l("Request timeout (s)"), default="10")
    page_size = StringField(_l("Page size"), default="200")
    push_enabled = BooleanField(_l("Push CRM changes"), default=True)
    enabled = BooleanField(_l("Enabled"), default=True)


def setting_field(setting: Setting) -> Any:
    """The input of one declared setting (its kind decides the widget; the service checks the value)."""
    label = field_label(setting.name) if setting.label == setting.name else setting.label  # undeclared: by its key
    if setting.kind == "bool":
        return BooleanField(label, description=setting.help)
    kinds = {"url": {"type": "url", "inputmode": "url"}, "number": {"inputmode": "decimal"}}
    return StringField(label, description=setting.help, render_kw=kinds.get(setting.kind, {}))


def setting_key(adapter: str | None, name: str) -> str:
    """The form field of a setting: ``set__<adapter>__<name>``, or ``set__<name>`` for a common one."""
    return f"set__{adapter}__{name}" if adapter else f"set__{name}"


def form_class(adapters: dict[str, Any]) -> type[ConnectionForm]:
    """The form for the registered ``adapters``: each one's settings and streams, the common settings, the
    ownership grid (every field of every adapter is there; a script shows the chosen adapter's)."""
    fields: dict[str, Any] = {}
    for code, cls in adapters.items():
        for setting in declared_settings(cls):
            fields[setting_key(code, setting.name)] = setting_field(setting)
        fields[f"streams__{code}"] = CheckboxesField(
            _l("Streams"), choices=[(s, STREAM_LABELS.get(s, s)) for s in cls.streams], validate_choice=False,
            description=_l("Nothing ticked: every stream the adapter offers."))
    for setting in COMMON_SETTINGS:
        fields[setting_key(None, setting.name)] = setting_field(setting)
    for entity, names in OWNED_FIELDS.items():
        for name in names:
            default = OWNER_WORDS[default_owner(entity, name)]
            fields[f"own__{entity}__{name}"] = RadioField(
                field_word(name), choices=[("", _l("Default: %(owner)s", owner=default)), ("erp", OWNER_WORDS["erp"]),
                                           ("crm", OWNER_WORDS["crm"])], default="", validate_choice=False)
    return type("ErpConnectionForm", (ConnectionForm,), fields)


def layout(ctx: ServiceContext, form: Any, adapters: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """What the template shows, in order: each adapter's group (its settings, required ones marked, and its
    streams), the common settings, and the ownership grid by record type."""
    groups = []
    for code, label in labels.items():
        cls = adapters[code]
        rows = [(form[setting_key(code, s.name)], s.required) for s in declared_settings(cls)]
        groups.append({"adapter": code, "title": gettext("Settings of %(adapter)s", adapter=label),
                       "rows": [*rows, (form[f"streams__{code}"], False)]})
    common = [(form[setting_key(None, s.name)], False) for s in COMMON_SETTINGS]
    grid = [(record_type(entity), [form[f"own__{entity}__{name}"] for name in names])
            for entity, names in OWNED_FIELDS.items()]
    return {"groups": groups, "common": common, "grid": grid}


def fill(form: Any, obj: Any, adapters: dict[str, Any]) -> None:
    """An existing connection's values put into the form (the secret never)."""
    settings = obj.settings or {}
    cls = adapters.get(obj.adapter)
    own = declared_settings(cls) if cls is not None else ()
    for setting in (*[(obj.adapter, s) for s in own], *[(None, s) for s in COMMON_SETTINGS]):
        code, decl = setting
        field = form[setting_key(code, decl.name)]
        value = settings.get(decl.name)
        field.data = bool(value) if decl.kind == "bool" else ("" if value is None else str(value))
    if cls is not None:
        form[f"streams__{obj.adapter}"].data = list(obj.streams or [])
    for entity, names in OWNED_FIELDS.items():
        rules = (obj.ownership or {}).get(entity, {})
        for name in names:
            form[f"own__{entity}__{name}"].data = rules.get(name, "") if rules.get(name) in OWNER_WORDS else ""
    form.secret.data = ""


def _typed(setting: Setting, field: Any) -> Any:
    """A setting's value as the JSON form stored it: numbers as numbers, flags as true/false; None: not given.
    A number that does not read as one is passed on as typed, for the service to refuse on its field."""
    if setting.kind == "bool":
        return True if field.data else None
    text = (field.data or "").strip()
    if not text:
        return None
    if setting.kind == "number":
        if _NUMBER.match(text):
            return int(text)
        try:
            return float(text)
        except ValueError:
            return text
    return text


def to_data(form: Any, adapters: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """The service's input (the same structure the API takes) from the posted form. Settings and ownership
    rules the form does not show (given through the API) are kept; another adapter's settings are dropped."""
    code = form.adapter.data
    cls = adapters.get(code)
    shown = {s.name for c in adapters.values() for s in all_settings(c)}
    settings = {k: v for k, v in ((model.settings if model is not None else None) or {}).items() if k not in shown}
    chosen = [(code, s) for s in declared_settings(cls)] if cls is not None else []
    for owner, setting in (*chosen, *[(None, s) for s in COMMON_SETTINGS]):
        value = _typed(setting, form[setting_key(owner, setting.name)])
        if value is not None:
            settings[setting.name] = value
    ownership = {entity: dict(rules) for entity, rules in ((model.ownership if model is not None else None) or {}).items()
                 if isinstance(rules, dict)}
    for entity, names in OWNED_FIELDS.items():
        rules = ownership.setdefault(entity, {})
        for name in names:
            choice = form[f"own__{entity}__{name}"].data
            if choice in OWNER_WORDS:
                rules[name] = choice
            else:
                rules.pop(name, None)
        if not rules:
            ownership.pop(entity)
    streams = list(form[f"streams__{code}"].data or []) if cls is not None else []
    data = {"name": form.name.data, "adapter": code, "settings": settings, "ownership": ownership,
            "streams": streams,
            "overlap_seconds": form.overlap_seconds.data, "timeout_seconds": form.timeout_seconds.data,
            "page_size": form.page_size.data, "push_enabled": form.push_enabled.data, "enabled": form.enabled.data}
    if form.secret.data:
        data["secret"] = form.secret.data
    return data


def on_fields(exc: ValidationError, form: Any) -> ValidationError:
    """The service's errors named by the form's fields (``settings.url`` -> the chosen adapter's address input,
    ``streams`` -> its checkboxes), so each lands beside its input."""
    code = form.adapter.data
    errors: dict[str, Any] = {}
    for key, messages in (exc.errors or {}).items():
        target = key
        if key.startswith("settings."):
            name = key.removeprefix("settings.")
            target = next((k for k in (setting_key(code, name), setting_key(None, name)) if k in form), key)
        elif key == "streams" and f"streams__{code}" in form:
            target = f"streams__{code}"
        errors.setdefault(target, []).extend(messages if isinstance(messages, list) else [messages])
    return ValidationError(exc.message, errors=errors)


def settings_words(adapters: dict[str, Any], conn: Any) -> Markup:
    """A connection's settings for its details page: each by its label (an undeclared one by its key)."""
    cls = adapters.get(conn.adapter)
    labels = {s.name: (field_label(s.name) if s.label == s.name else s.label) for s in all_settings(cls)} if cls else {}
    lines = [Markup("{}: {}").format(labels.get(k, k), gettext("Yes") if v is True else gettext("No") if v is False else v)
             for k, v in (conn.settings or {}).items()]
    return Markup("<br>").join(lines)


def ownership_words(conn: Any) -> Markup:
    """A connection's ownership overrides in words: record type and field, who wins."""
    lines = [Markup("{} · {}: {}").format(record_type(entity), field_word(name), OWNER_WORDS.get(owner, owner))
             for entity, rules in (conn.ownership or {}).items() if isinstance(rules, dict)
             for name, owner in rules.items()]
    return Markup("<br>").join(lines) if lines else Markup("{}").format(gettext("Defaults only"))


def streams_words(conn: Any) -> str:
    """A connection's chosen streams in words (none chosen: every stream of its adapter)."""
    return ", ".join(stream_label(s) for s in conn.streams or []) or gettext("Every stream the adapter offers")
