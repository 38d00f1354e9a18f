"""The approval policy form without JSON: its choices shown as words, and its posted fields read into a policy."""
from __future__ import annotations

import json
import re
from typing import Any

from flask import url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ..conditions import KIND_OPS
from ..errors import CRMError, ValidationError
from ..i18n import _, gettext
from ..models import Role, User
from ..runtime import ServiceContext
from ..services import condition_fields
from ..services.workflow_registry import actions, entities
from .forms import role_label

PROVIDER_LABELS: dict[str, Any] = {"internal": _("In the CRM (approval inbox)"), "webhook": _("Webhook"),
                                   "dingtalk": _("DingTalk"), "wecom": _("WeCom"), "feishu": _("Feishu")}
MODE_LABELS: dict[str, Any] = {"parallel": _("At the same time (parallel)"), "sequential": _("One after another (sequential)")}
OP_LABELS: dict[str, Any] = {
    "eq": _("is"), "ne": _("is not"), "lt": _("is less than"), "lte": _("is at most"), "gt": _("is more than"),
    "gte": _("is at least"), "in": _("is one of"), "not_in": _("is none of"), "contains": _("contains"),
    "startswith": _("starts with"), "is_null": _("is empty"), "is_true": _("is yes"), "is_false": _("is no"),
    "changed": _("changed")}
SOURCE_LABELS: dict[str, Any] = {"column": _("Fields"), "computed": _("Computed"), "custom": _("Custom fields"),
                                 "related": _("Related records")}
_TIER = re.compile(r"^tiers-(\d+)-(\w+)$")


def builder_text() -> dict[str, Any]:
    """The condition builder's words in the reader's language (the script reads them from the page)."""
    return {"all": str(_("All of these hold (AND)")), "any": str(_("Any of these holds (OR)")),
            "addCondition": str(_("Add a condition")), "addGroup": str(_("Add a group")), "remove": str(_("Remove")),
            "advanced": str(_("Advanced: the condition as JSON")), "apply": str(_("Use this JSON")),
            "badJson": str(_("This is not valid JSON:")), "matching": str(_("matching records")),
            "unavailable": str(_("The preview is not available.")), "field": str(_("Field")),
            "operator": str(_("Operator")), "value": str(_("Value to compare")), "match": str(_("Match")),
            "commas": str(_("values separated by commas")), "currency": str(_("in the record's currency")),
            "rawHint": str(_("(edit in the advanced view)")),
            "rawKept": str(_("A condition this form cannot show (kept as it is)")),
            "search": str(_("Type part of a name or a number")), "noMatch": str(_("No record found")),
            "unseen": str(_("a record you may not see (or deleted)")), "records": _picker_url(),
            "ops": {k: str(v) for k, v in OP_LABELS.items()},
            "sources": {k: str(v) for k, v in SOURCE_LABELS.items()}}


def _picker_url() -> str:
    """Where the builder finds records by name (:mod:`crmcore.admin.record_picker`); none outside a request."""
    try:
        return url_for("record_picker.index")
    except (RuntimeError, LookupError):  # outside a request, or an app without the admin
        return ""


def builder_meta(ctx: ServiceContext, entity: str) -> dict[str, Any]:
    """What the builder offers for ``entity``: its fields (with related ones), operators by type and users by name."""
    out = condition_fields.describe(ctx, entity)
    out["operators"] = {kind: list(ops) for kind, ops in KIND_OPS.items()}
    out["users"] = [{"value": u.id, "label": u.full_name or u.username}
                    for u in ctx.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))]
    return out


def reviewer_options(ctx: ServiceContext, entity: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The reviewers a tier can name, grouped, as ``(group label, [(kind:value, label)])``: users and roles by
    name, and the manager of (or the person in) each field of the record that holds a user."""
    users = [(f"user:{u.username}", u.full_name or u.username)
             for u in ctx.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))]
    roles = [(f"role:{r.name}", role_label(r.name)) for r in ctx.session.scalars(select(Role).order_by(Role.name))]
    people = [f for f in _fields(ctx, entity) if f.get("related") == "user" and f["source"] != "related"]  # on the record
    return [(str(_("Users")), users), (str(_("Roles")), roles),
            (str(_("Manager of the person in a field")),
             [(f"manager_of:{f['name']}", str(_("Manager of: %(field)s", field=f["label"]))) for f in people]),
            (str(_("The person in a field")), [(f"field:{f['name']}", f["label"]) for f in people])]


def _fields(ctx: ServiceContext, entity: str) -> list[dict[str, Any]]:
    try:
        return list(condition_fields.describe(ctx, entity)["fields"])
    except (CRMError, KeyError):  # an entity without metadata (or not readable) offers no field choices
        return []


def entity_choices(ctx: ServiceContext) -> list[tuple[str, str]]:
    """The workflow entities as ``(code, label in the reader's words)``."""
    return [(name, str(spec.label or name)) for name, spec in sorted(entities(ctx).items())]


def provider_choices(ctx: ServiceContext) -> list[tuple[str, str]]:
    """The approval providers as ``(code, name in the reader's words)``, the CRM's own first."""
    providers = ["internal"] + sorted(p for p in ctx.registry.oa_providers if p != "internal")
    return [(p, str(PROVIDER_LABELS.get(p) or _(getattr(ctx.registry.oa_providers.get(p), "label", p))))
            for p in providers]


def form_choices(ctx: ServiceContext, entity: str) -> dict[str, Any]:
    """Everything the policy form offers, as ``(value, words)``."""
    return {
        "entities": entity_choices(ctx),
        "providers": provider_choices(ctx),
        "modes": [(k, str(v)) for k, v in MODE_LABELS.items()],
        "reviewers": reviewer_options(ctx, entity),
        "key_fields": [(f["name"], f["label"]) for f in _fields(ctx, entity) if f["source"] in ("column", "computed")],
        "compensations": [(name, str(a.description or name)) for name, a in sorted(actions(ctx).items())],
    }


def reviewer_value(spec: dict[str, Any] | None) -> str:
    """A reviewer spec as the form's ``kind:value``."""
    return f"{spec.get('kind')}:{spec.get('value') or ''}" if isinstance(spec, dict) else ""


def reviewer_values(specs: list[dict[str, Any]] | None) -> list[str]:
    """Reviewer specs as the form's ``kind:value`` options."""
    return [reviewer_value(s) for s in specs or [] if isinstance(s, dict)]


def _reviewer(text: str) -> dict[str, Any]:
    kind, _sep, value = text.partition(":")
    return {"kind": kind, "value": value or None}


def _condition(text: str | None) -> Any:
    """The condition tree the builder posted; text that is not JSON goes on as it is, for the service to refuse
    next to the field (a condition is an object)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _number(text: str | None, scale: float = 1) -> Any:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(round(float(text) * scale))
    except ValueError:
        return text  # the service refuses it with its own words, next to the field


def read_policy(form: MultiDict[str, str]) -> dict[str, Any]:
    """The posted policy form as the service's policy data (tiers in the order shown, steps from 1)."""
    mapping: dict[str, str] = {}
    for line in (form.get("field_mapping") or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            mapping[key.strip()] = value.strip()
    data: dict[str, Any] = {
        "name": (form.get("name") or "").strip(), "entity": form.get("entity"), "action": form.get("action") or None,
        "provider": form.get("provider") or "internal", "template": form.get("template") or None,
        "field_mapping": mapping, "key_fields": form.getlist("key_fields"),
        "allow_self_approval": bool(form.get("allow_self_approval")), "compensation": form.get("compensation") or None,
        "active": bool(form.get("active"))}
    indexes = sorted({int(m.group(1)) for key in form if (m := _TIER.match(key))})
    tiers: list[dict[str, Any]] = []
    for i in indexes:
        def get(name: str, i: int = i) -> str | None:
            return form.get(f"tiers-{i}-{name}")
        if get("removed"):
            continue
        escalate = get("escalate_to")
        tiers.append({
            "step": len(tiers) + 1, "name": get("name") or None, "condition": _condition(get("condition")),
            "reviewers": [_reviewer(r) for r in form.getlist(f"tiers-{i}-reviewers") if r],
            "quorum": _number(get("quorum")) if get("quorum") else 1, "mode": get("mode") or "parallel",
            "comment_required_on_reject": bool(get("comment_required_on_reject")),
            "remind_after": _number(get("remind_after"), 3600), "timeout_after": _number(get("timeout_after"), 3600),
            "escalate_to": _reviewer(escalate) if escalate else None})
    data["tiers"] = tiers
    return data


def condition_errors_on_fields(exc: ValidationError, rename: dict[str, str] | None = None) -> ValidationError:
    """A service's errors placed on a builder form's fields: a problem inside the conditions
    (``conditions.all.1.value``) on the builder, saying which condition (1, 2.1...); ``rename``: a service field
    shown under another form field (a metric's ``shares`` on its ``share_roles``)."""
    errors: dict[str, list[str]] = {}
    for key, value in (exc.errors or {}).items():
        messages = [str(m) for m in (value if isinstance(value, (list, tuple)) else [value])]
        head, _sep, rest = key.partition(".")
        if head == "conditions" and rest:
            place = ".".join(str(int(p) + 1) for p in rest.split(".") if p.isdigit())
            messages = [gettext("Condition %(n)s: %(message)s", n=place, message=m) if place else m for m in messages]
        errors.setdefault((rename or {}).get(head, head), []).extend(messages)
    return ValidationError(exc.message, errors=errors)
