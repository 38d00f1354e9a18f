"""Message templates: subject, HTML and text with per-recipient variables, rendered by a sandboxed Jinja
environment that sees only plain values (no objects, no attribute access beyond them).

Variables: ``customer.name``, ``customer.code``, ``customer.city``, ``contact.name``, ``company.name``,
``recommendations`` (a list of product names, empty when there are none: write a fallback with
``{% if recommendations %}``), ``best_sellers`` (recent best sellers the customer has not bought, a fallback for
``recommendations``), ``unsubscribe_url`` and ``preferences_url``. A template that names any other
variable is refused when saved, with the name and the ones that exist."""
from __future__ import annotations

import difflib
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from crmcore.errors import NotFound
from crmcore.events import record_change
from crmcore.i18n import _
from crmcore.runtime import ServiceContext
from crmcore.schemas.columns import text
from crmcore.services.unit import apply_changes, unit_of_work
from crmcore.services.validation import load

from ..models import CHANNELS, MessageTemplate

BODY_MAX = 200_000
VARIABLES: dict[str, tuple[str, ...]] = {
    "customer": ("name", "code", "city"), "contact": ("name",), "company": ("name",), "recommendations": (),
    "best_sellers": (),
    "unsubscribe_url": (), "preferences_url": (),
}
WAY_OUT = frozenset({"unsubscribe_url", "preferences_url"})
EDITABLE = ("name", "channel", "subject", "html", "text")
_ENV = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_HTML_ENV = ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


class TemplateSchema(Schema):
    name = text(MessageTemplate.name, required=True)
    channel = fields.Str(load_default="email", validate=validate.OneOf(CHANNELS))
    subject = text(MessageTemplate.subject, required=True)
    html = fields.Str(allow_none=True, validate=validate.Length(max=BODY_MAX))
    text = fields.Str(allow_none=True, validate=validate.Length(max=BODY_MAX))


_SCHEMA = TemplateSchema()


def _unknown(tree: nodes.Template) -> list[str]:
    """Variables (``name`` or ``name.attr``) the template uses that are not offered."""
    bad = sorted(v for v in meta.find_undeclared_variables(tree) if v not in VARIABLES)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "?")
        if not isinstance(target, nodes.Name) or target.name not in VARIABLES or attr not in VARIABLES[target.name]:
            bad.append(f"{getattr(target, 'name', '…')}.{attr}")
    return bad


def _check_part(source: str | None) -> list[str]:
    if not source:
        return []
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [_("Line %(line)s: %(error)s", line=exc.lineno, error=exc.message or "")]
    if any(True for _call in tree.find_all(nodes.Call)):
        return [_("A template cannot call functions or methods; use the variables and filters.")]
    offered = [*VARIABLES, *(f"{k}.{a}" for k, attrs in VARIABLES.items() for a in attrs)]
    out = []
    for name in _unknown(tree):
        near = difflib.get_close_matches(name, offered, n=3, cutoff=0.5) or offered
        out.append(_("No variable %(name)s; there are: %(near)s.", name=name, near=", ".join(near)))
    return out


def validate_template(ctx: ServiceContext, data: dict[str, Any], existing: MessageTemplate | None) -> dict[str, Any]:
    """A template checked by ``TemplateSchema``, each part parsed (syntax errors by line, unknown variables
    with the ones that exist), a name no other template has, and an e-mail with an HTML or a text part."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        for part in ("subject", "html", "text"):
            if problems := _check_part(values.get(part)):
                errors[part] = problems
        if values.get("name"):
            other = ctx.session.scalar(select(MessageTemplate).where(MessageTemplate.name == values["name"]))
            if other is not None and (existing is None or other.id != existing.id):
                errors["name"] = [_("A template named '%(name)s' exists.", name=values["name"])]
        html = values.get("html", existing.html if existing else None)
        body = values.get("text", existing.text if existing else None)
        if not (html or body) and "html" not in errors and "text" not in errors:
            errors["text"] = [_("Write the message: an HTML part, a text part or both.")]
        return errors

    return load(_SCHEMA, data, partial=existing is not None, message=_("The template is not valid."), check=check)


def get_template(ctx: ServiceContext, template_id: int) -> MessageTemplate:
    ctx.require("marketing.read")
    template = ctx.session.get(MessageTemplate, template_id)
    if template is None:
        raise NotFound(_("Template %(id)s does not exist.", id=template_id))
    return template


def list_templates(ctx: ServiceContext) -> list[MessageTemplate]:
    ctx.require("marketing.read")
    return list(ctx.session.scalars(select(MessageTemplate).order_by(MessageTemplate.name)))


def create_template(ctx: ServiceContext, data: dict[str, Any]) -> MessageTemplate:
    ctx.require("marketing.manage")
    values = validate_template(ctx, data, None)
    with unit_of_work(ctx):
        template = MessageTemplate()
        changes = apply_changes(template, values, EDITABLE)
        ctx.session.add(template)
        ctx.session.flush()
        record_change(ctx, "marketing_template", "created", template.id, changes)
    return template


def update_template(ctx: ServiceContext, template_id: int, data: dict[str, Any]) -> MessageTemplate:
    ctx.require("marketing.manage")
    template = get_template(ctx, template_id)
    values = validate_template(ctx, data, template)
    with unit_of_work(ctx):
        changes = apply_changes(template, values, EDITABLE)
        if changes:
            record_change(ctx, "marketing_template", "updated", template.id, changes)
    return template


class Renderer:
    """A template compiled once for a whole send (compiling per recipient would cost more than sending)."""

    def __init__(self, template: MessageTemplate) -> None:
        self.subject = _ENV.from_string(template.subject)
        self.html = _HTML_ENV.from_string(template.html) if template.html else None
        self.text = _ENV.from_string(template.text) if template.text else None
        names = {part: meta.find_undeclared_variables(_ENV.parse(source)) if source else set()
                 for part, source in (("subject", template.subject), ("html", template.html), ("text", template.text))}
        used = set().union(*names.values())
        # a part that places neither link itself gets the footer with both (footer.py)
        self.has_way_out = {part: bool(names[part] & WAY_OUT) for part in ("html", "text")}
        self.uses_recommendations = "recommendations" in used  # worked out per recipient only when used
        self.uses_best_sellers = "best_sellers" in used

    def render(self, variables: dict[str, Any]) -> dict[str, str | None]:
        """Subject, HTML and text for one recipient (``variables``: plain dicts, lists and strings only).
        The HTML part escapes every value; the subject and text are plain text."""
        return {"subject": " ".join(self.subject.render(variables).split()),
                "html": self.html.render(variables) if self.html else None,
                "text": self.text.render(variables) if self.text else None}


_COMPILED: dict[tuple[str, str | None, str | None], Renderer] = {}


def renderer(template: MessageTemplate) -> Renderer:
    """The compiled template, kept by its text (not its id: another database may have another template 1)."""
    key = (template.subject, template.html, template.text)
    if key not in _COMPILED:
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        _COMPILED[key] = Renderer(template)
    return _COMPILED[key]


def render(template: MessageTemplate, variables: dict[str, Any]) -> dict[str, str | None]:
    """Subject, HTML and text of ``template`` for one recipient (see :class:`Renderer`)."""
    return Renderer(template).render(variables)
