"""A workflow state's ``on_enter`` ({field: value} set when a record enters it) and ``actions`` (named actions run
then): which fields may be set, each value checked against its field's type and choices, and the stored (JSON)
value read back as the column's type when a transition applies it. The workflow service and the admin's state
editor both use it: one set of rules and messages."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from sqlalchemy import inspect as sa_inspect

from .. import entities as meta
from ..conditions import read_value
from ..i18n import _

if TYPE_CHECKING:
    from ..runtime import ServiceContext

MAX_ON_ENTER = 30  # fields set on entering one state
MAX_ACTIONS = 10  # named actions run on entering one state
NEVER_SET = ("id", "version", "created_at", "updated_at", "deleted_at", "created_by_id")


@dataclass(frozen=True)
class Settable:
    """A field a state may set on entry: its type (the condition language's kinds), label, choices and the
    entity its value points to (a user, a customer...), if any."""

    name: str
    kind: str
    label: str
    choices: tuple[tuple[Any, str], ...] = ()
    related: str | None = None
    nullable: bool = True
    max_length: int | None = None


def settable_fields(ctx: ServiceContext, entity: str | None, model: Any, state_field: str | None) -> dict[str, Settable]:
    """The columns of ``model`` a state may set, labelled from the entity's metadata: never the state field
    itself, the bookkeeping columns, a hidden one (a hash) or a JSON column."""
    if model is None:
        return {}
    declared = meta.registered(ctx).get(entity) if entity else None
    by_table = {e.model.__table__.name: e.name for e in meta.registered(ctx).values()}
    out: dict[str, Settable] = {}
    for column in sa_inspect(model).columns:
        key, kind = column.key, meta.column_kind(column)
        if (key in NEVER_SET or key == state_field or column.primary_key or kind == "json" or meta.internal(key)
                or (declared is not None and meta.is_hidden(declared, key))):
            continue
        label = (declared.labels.get(key) if declared is not None else None) or meta.COMMON_LABELS.get(key) or key
        choices = tuple((v, str(lab)) for v, lab in (declared.choices.get(key, []) if declared is not None else []))
        related = next((by_table.get(fk.column.table.name) for fk in column.foreign_keys), None)
        if column.foreign_keys and related is None:
            continue  # a record of a type no one can pick by name: it would be a bare number
        out[key] = Settable(key, "int" if related else kind, str(label), choices, related, bool(column.nullable),
                            getattr(column.type, "length", None) if kind == "str" else None)
    return out


def value_problem(ctx: ServiceContext, spec: Settable, value: Any) -> str | None:
    """Why ``value`` cannot be set into ``spec`` (in words), or None when it can."""
    if value is None or value == "":
        return None if spec.nullable or spec.kind == "str" and value == "" else str(_("This field cannot be left empty."))
    try:
        read_value(spec.kind, value)
    except ValueError as exc:
        return str(exc)
    if spec.choices and value not in [v for v, _label in spec.choices]:
        return str(_("Choose one of: %(names)s.", names=", ".join(label for _v, label in spec.choices)))
    if spec.max_length and isinstance(value, str) and len(value) > spec.max_length:
        return str(_("At most %(n)s characters.", n=spec.max_length))
    if spec.related and meta.registered(ctx).get(spec.related) is not None:
        if not 0 < value < 2 ** 63 or ctx.session.get(meta.registered(ctx)[spec.related].model, value) is None:
            return str(_("No such record (it may have been deleted)."))
    return None


def state_errors(ctx: ServiceContext, i: int, state: dict[str, Any], fields: dict[str, Settable],
                 known_actions: dict[str, Any], entity: str | None = None) -> dict[str, list[Any]]:
    """The problems of state ``i``'s ``on_enter`` (by field: ``states.<i>.on_enter.<field>``) and ``actions``
    (``states.<i>.actions.<j>``), in the reader's words."""
    errors: dict[str, list[Any]] = {}
    on_enter = state.get("on_enter") or {}
    if len(on_enter) > MAX_ON_ENTER:
        errors[f"states.{i}.on_enter"] = [_("At most %(n)s fields can be set on entering a state.", n=MAX_ON_ENTER)]
    for field, value in on_enter.items():
        spec = fields.get(field)
        problem = (str(_("'%(field)s' cannot be set on entering a state.", field=field)) if spec is None
                   else value_problem(ctx, spec, value))
        if problem:
            errors.setdefault(f"states.{i}.on_enter.{field}", []).append(problem)
    acts = state.get("actions") or []
    if len(acts) > MAX_ACTIONS:
        errors[f"states.{i}.actions"] = [_("At most %(n)s actions can run on entering a state.", n=MAX_ACTIONS)]
    for j, act in enumerate(acts):
        act_name = act.get("name") if isinstance(act, dict) else act
        if not isinstance(act_name, str):  # an action is its name, or an object with its name
            errors.setdefault(f"states.{i}.actions.{j}", []).append(_("Give the action's name."))
        elif act_name not in known_actions:
            errors.setdefault(f"states.{i}.actions.{j}", []).append(_("Unknown action '%(name)s'.", name=act_name))
        elif entity and entity not in (getattr(known_actions[act_name], "entities", None) or (entity,)):
            errors.setdefault(f"states.{i}.actions.{j}", []).append(
                _("The action '%(name)s' does not act on these records.", name=act_name))
        elif isinstance(act, dict) and not isinstance(act.get("params") or {}, dict):
            errors.setdefault(f"states.{i}.actions.{j}", []).append(_("Give the action's parameters as an object."))
    return errors


def stored_value(column: Any, value: Any) -> Any:
    """A value kept in a state's ``on_enter`` (JSON: a date as ``2026-03-31``, an amount as text or a number)
    as ``column``'s Python type, for the transition to set it."""
    if value is None or value == "":
        return None if value is None or column.nullable else value
    kind = meta.column_kind(column)
    if kind in ("date", "datetime", "num", "money"):
        try:
            return read_value(kind, value)
        except ValueError:
            return value  # refused when the workflow was saved; kept as it is for a definition from before
    return value
