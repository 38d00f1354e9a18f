"""Admin-defined custom fields: definitions and validation of the values records carry."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from ..db import flush_context_free, mapped_columns
from ..errors import NotFound, ValidationError
from ..events import record_change
from ..models import CustomField
from ..schemas.admin import CustomFieldSchema, CustomFieldUpdateSchema
from . import stamps
from .unit import apply_changes, unit_of_work
from .validation import load
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

ENTITIES = ("customer", "contact")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_CREATE = CustomFieldSchema()
_UPDATE = CustomFieldUpdateSchema()
FIELDS = ("label", "type", "required", "choices", "help_text", "position", "active")


_CACHE = "crm_active_fields"


def _cache(ctx: ServiceContext) -> dict[str, list[CustomField]]:
    """Where the active fields are kept: the HTTP request (a write validates, scores, commits and answers with
    them: one query a request), else the transaction (a job or command sees other processes' changes)."""
    from flask import g, has_request_context

    if has_request_context():
        return g.setdefault(_CACHE, {})  # type: ignore[no-any-return]
    return ctx.session.info.setdefault(_CACHE, {})  # type: ignore[no-any-return]


# built once (each request reads the fields once; building the statement cost as much as running it)
_ACTIVE = select(CustomField).where(CustomField.entity == bindparam("entity"), CustomField.active.is_(True)).order_by(
    CustomField.position, CustomField.id)


def active_fields(ctx: ServiceContext, entity: str) -> list[CustomField]:
    """The entity's active custom fields, read once per request (or per transaction outside one); a flush that
    changes a custom field forgets them, and so does the transaction's end outside a request. A request that knows
    the fields' change stamp (an API request) takes the copies its process keeps while the stamp has not moved."""
    cache = _cache(ctx)
    if entity not in cache:
        stamp = stamps.known(ctx.session, "custom_fields")
        kept = _KEPT.get(stamp) if stamp is not None else None
        if kept is not None and entity in kept:
            cache[entity] = kept[entity]
        else:
            cache[entity] = list(ctx.session.scalars(_ACTIVE, {"entity": entity}))
            if stamp is not None:
                if kept is None:
                    _KEPT.clear()  # only the newest stamp's
                    kept = _KEPT[stamp] = {}
                kept[entity] = [_copy(f) for f in cache[entity]]
    return list(cache[entity])


# per process: {stamp: {entity: [copies of its active fields]}}, the stamp last seen only
_KEPT: dict[int, dict[str, list[CustomField]]] = stamps.kept("custom_fields")
_COLUMNS = tuple(key for key, _column in mapped_columns(CustomField))


def _copy(field: CustomField) -> CustomField:
    """A copy of the field in no session (what a process keeps outlives the request's session)."""
    values = {key: getattr(field, key) for key in _COLUMNS}
    values["choices"] = list(values["choices"] or [])
    return CustomField(**values)


@event.listens_for(Session, "after_flush")
@flush_context_free
def _forget_changed(session: Session, _flush_context: Any) -> None:
    if any(isinstance(o, CustomField) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_CACHE, None)  # (the flush bumped their stamp: other requests and processes read them again)
        from flask import g, has_request_context

        if has_request_context():
            g.pop(_CACHE, None)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended: another may see other fields
        session.info.pop(_CACHE, None)


def validate_attributes(ctx: ServiceContext, entity: str, values: dict[str, Any] | None, current: dict[str, Any] | None = None,
                        partial: bool = False, fields: list[CustomField] | None = None) -> dict[str, Any]:

    """Check ``values`` against the entity's custom fields; return the merged, cleaned attributes.

    Unknown names and bad values raise ``ValidationError`` with one message per field. ``fields``: the
    entity's active custom fields, when the caller read them already (a batch of rows).
    """
    values = values or {}
    if not isinstance(values, dict):
        raise ValidationError(_("Invalid custom attributes."), errors={"attributes": [_("Must be an object.")]})
    defs = {f.name: f for f in (active_fields(ctx, entity) if fields is None else fields)}
    result = dict(current or {})
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        field = defs.get(name)
        if field is None:
            errors[name] = [_("Unknown custom field '%(name)s' for %(entity)s.", name=name, entity=entity)]
            continue
        if value is None or value == "":
            result.pop(name, None)
            continue
        ftype = ctx.registry.field_types.get(field.type)
        if ftype is None:
            errors[name] = [_("Field type '%(type)s' is not available (is its plugin enabled?).", type=field.type)]
            continue
        try:
            result[name] = ftype.validate(value, field)
        except (ValueError, TypeError) as exc:
            errors[name] = [str(exc)]
    for name, field in defs.items():
        if field.required and result.get(name) in (None, "", []) and not (partial and name not in values and name in result):
            errors.setdefault(name, []).append(_("'%(label)s' is required.", label=field.label))
    if errors:
        raise ValidationError(_("Some custom fields are not valid."), errors={"attributes": errors})
    return result


def validate_field(ctx: ServiceContext, data: dict[str, Any], existing: CustomField | None) -> dict[str, Any]:
    """A custom field's definition checked and converted, the one validation the API and the admin share:
    ``CustomFieldSchema`` (a new field's entity and name; what is given for ``existing``), then a name
    no other field of the entity has, a type the registry knows, and choices for a choice field."""
    def check(values: dict[str, Any]) -> dict[str, list[Any]]:
        errors: dict[str, list[Any]] = {}
        if existing is None and values.get("name") and ctx.session.scalar(select(CustomField.id).where(
                CustomField.entity == values.get("entity", "customer"), CustomField.name == values["name"])):
            errors["name"] = [_("A field named '%(name)s' already exists (possibly deactivated).", name=values["name"])]
        ftype = values.get("type", existing.type if existing else "text")
        if ftype not in ctx.registry.field_types:
            errors["type"] = [_("Unknown type; choose one of: %(choices)s.",
                                choices=", ".join(sorted(ctx.registry.field_types)))]
        choices = values.get("choices", existing.choices if existing else [])
        if ftype in ("choice", "multichoice") and not choices:
            errors["choices"] = [_("A choice field needs at least one choice.")]
        return errors

    message = _("The custom field is not valid.")
    if existing is None:
        data = load(_CREATE, data, partial=False, message=message, check=check)
    else:
        data = load(_UPDATE, data, partial=True, message=message, check=check)
    if "label" in data and not data["label"] or existing is None and "label" not in data:
        data["label"] = existing.name if existing is not None else data["name"]  # an empty label: the name
    return data


def create_field(ctx: ServiceContext, data: dict[str, Any]) -> CustomField:
    ctx.require("customfield.manage")
    data = validate_field(ctx, data, None)
    with unit_of_work(ctx):
        field = CustomField(entity=data.get("entity", "customer"), name=data["name"], label=data.get("label") or data["name"])
        apply_changes(field, data, FIELDS)
        ctx.session.add(field)
        ctx.session.flush()
        record_change(ctx, "custom_field", "created", field.id, {k: [None, data[k]] for k in FIELDS if k in data})
    return field


def get_field(ctx: ServiceContext, field_id: int) -> CustomField:
    field = ctx.session.get(CustomField, field_id)
    if field is None:
        raise NotFound(_("Custom field %(id)s does not exist.", id=field_id))
    return field


def update_field(ctx: ServiceContext, field_id: int, data: dict[str, Any]) -> CustomField:
    ctx.require("customfield.manage")
    field = get_field(ctx, field_id)
    data = validate_field(ctx, data, field)
    with unit_of_work(ctx):
        changes = apply_changes(field, data, FIELDS)
        if changes:
            record_change(ctx, "custom_field", "updated", field.id, changes)
    return field


def delete_field(ctx: ServiceContext, field_id: int) -> None:
    """Deactivate the field: values already stored stay in the records' attributes."""
    ctx.require("customfield.manage")
    field = get_field(ctx, field_id)
    with unit_of_work(ctx):
        field.active = False
        record_change(ctx, "custom_field", "deleted", field.id, {"active": [True, False]})
