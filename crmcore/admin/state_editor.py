"""A workflow state's "on entering, set" rows (field by label, a value input of its type) and its actions (by
name), without JSON: what the editor offers, the posted rows read into ``on_enter`` and ``actions``, the service's
errors placed on the rows, and both said in words on the workflow's pages."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, replace
from typing import Any

from flask_babel import get_timezone
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ..i18n import _
from ..models import User
from ..runtime import ServiceContext
from ..services import record_picker
from ..services.on_enter import MAX_ACTIONS, MAX_ON_ENTER, Settable, settable_fields
from ..services.workflow_registry import actions, entities
from . import labels

_SET = re.compile(r"^states-(\d+)-set-(\d+)-(field|value)$")
_ACT = re.compile(r"^states-(\d+)-act-(\d+)$")
_TRUE = ("1", "true", "on", "yes", "y", "是", "对")
_FALSE = ("0", "false", "off", "no", "n", "否", "不")
MAX_ROWS = MAX_ON_ENTER + MAX_ACTIONS  # rows read per state: more is a forged form, refused in words


def fields_by_entity(ctx: ServiceContext) -> dict[str, dict[str, Settable]]:
    """Each workflow entity's settable fields (the state field too: the page leaves out the chosen one); a field
    its metadata gives no label gets the admin's word for it, never its code."""
    out = {}
    for name, spec in sorted(entities(ctx).items()):
        fields = settable_fields(ctx, name, spec.model, None)
        out[name] = {k: f if f.label != k else replace(f, label=str(labels.field(k))) for k, f in fields.items()}
    return out


def action_choices(ctx: ServiceContext) -> list[tuple[str, str]]:
    """The named actions plugins registered (``crm_register_workflow_actions``), as ``(name, words)``."""
    return [(name, str(a.description) if a.description else name) for name, a in sorted(actions(ctx).items())]


def actions_by_entity(ctx: ServiceContext) -> dict[str, list[str]]:
    """``{entity: [action names]}``: the actions offered for each workflow entity (an action that names none: all)."""
    return {e: [n for n, a in sorted(actions(ctx).items()) if e in (getattr(a, "entities", None) or (e,))]
            for e in sorted(entities(ctx))}


def user_choices(ctx: ServiceContext) -> list[tuple[int, str]]:
    """Active users by name: what a field holding a user offers (as the condition builder does)."""
    return [(u.id, u.full_name or u.username)
            for u in ctx.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))]


def editor_choices(ctx: ServiceContext) -> dict[str, Any]:
    """Everything the state editor offers, for the page and (as JSON) its script."""
    fields = fields_by_entity(ctx)
    offered = actions_by_entity(ctx)
    return {"fields": fields, "actions": action_choices(ctx), "users": user_choices(ctx), "offered": offered,
            "script": {"fields": {e: [asdict(f) for f in fs.values()] for e, fs in fields.items()}, "offered": offered,
                       "users": [{"value": v, "label": lab} for v, lab in user_choices(ctx)],
                       "text": {"yes": str(_("yes")), "choose": str(_("Choose a field")), "remove": str(_("Remove"))}}}


def _value(spec: Settable | None, raw: str | None) -> Any:
    """The posted text as the field's value; text that does not read as its type goes on as it is, for the
    service to refuse next to the row (and the page to show again)."""
    if spec is None:
        return raw
    text = (raw or "").strip()
    if spec.kind == "bool":
        if not text:
            return False  # a checkbox left unticked posts nothing
        return True if text.lower() in _TRUE else False if text.lower() in _FALSE else text
    if not text:
        return None
    if spec.choices and text not in [str(v) for v, _label in spec.choices]:  # typed in words (no script): its code
        text = next((str(v) for v, label in spec.choices if str(label).casefold() == text.casefold()), text)
    if spec.kind == "int":
        return int(text) if re.fullmatch(r"-?\d{1,19}", text) else text
    if spec.kind == "datetime":
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return text
        return (moment if moment.tzinfo else moment.replace(tzinfo=get_timezone())).isoformat()
    return text  # text, a choice, a date (2026-03-31), an amount (kept as typed: no float rounding)


def read_state(form: MultiDict[str, str], i: int | str, entity: str | None, fields: dict[str, dict[str, Settable]],
               before: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Any], list[dict[str, Any]]]:
    """State ``i``'s posted rows as ``(on_enter, actions, rows)``: ``rows`` (field, value, problem) are what the
    page shows again, with a row's own problem (no field chosen, a field twice, too many rows). Rows left empty
    or marked removed are left out. ``before``: the state as saved, whose actions keep their parameters."""
    known = fields.get(entity or "", {})
    rows: list[dict[str, Any]] = []
    on_enter: dict[str, Any] = {}
    set_rows = sorted({int(m.group(2)) for key in form if (m := _SET.match(key)) and m.group(1) == str(i)})
    for j in set_rows:
        name = (form.get(f"states-{i}-set-{j}-field") or "").strip()
        raw = form.get(f"states-{i}-set-{j}-value")
        if form.get(f"states-{i}-set-{j}-removed") or (not name and not (raw or "").strip()):
            continue
        value, problem = _value(known.get(name), raw), None
        if len(rows) >= MAX_ROWS:  # a forged form: the rest is not read
            rows.append({"field": "", "value": "", "problem": _("At most %(n)s fields can be set on entering a state.",
                                                                 n=MAX_ON_ENTER)})
            break
        if not name:
            problem = _("Choose the field to set.")
        elif name in on_enter:
            problem = _("This field is set twice; keep one row.")
        else:
            on_enter[name] = value
        rows.append({"field": name, "value": value if known.get(name) else raw, "problem": problem})
    params = {a.get("name"): a.get("params") for a in (before or {}).get("actions") or [] if isinstance(a, dict)}
    acts: list[Any] = []
    act_rows = sorted({int(m.group(2)) for key in form if (m := _ACT.match(key)) and m.group(1) == str(i)})
    for k in act_rows:
        name = (form.get(f"states-{i}-act-{k}") or "").strip()
        if name and not form.get(f"states-{i}-act-{k}-removed"):
            acts.append({"name": name, "params": params[name]} if params.get(name) else name)
    if not set_rows and not act_rows:  # a page opened before this editor posts the state's JSON: keep it, not lose it
        on_enter, acts = _legacy(form.get(f"states-{i}-on_enter"), dict, on_enter), _legacy(
            form.get(f"states-{i}-actions"), list, acts)
        rows = rows_of({"on_enter": on_enter})
    return on_enter, acts, rows


def _legacy(text: str | None, kind: type, default: Any) -> Any:
    """The JSON an older page kept in a hidden input, if it is of ``kind`` (the service checks what is in it)."""
    try:
        value = json.loads(text) if text and len(text) <= 65536 else None
    except ValueError:
        return default
    return value if isinstance(value, kind) else default


def rows_of(state: dict[str, Any]) -> list[dict[str, Any]]:
    """A saved state's ``on_enter`` as the editor's rows."""
    return [{"field": f, "value": v, "problem": None} for f, v in (state.get("on_enter") or {}).items()]


def action_names(state: dict[str, Any]) -> list[str]:
    return [str(a.get("name") if isinstance(a, dict) else a) for a in state.get("actions") or []]


def row_errors(errors: dict[str, Any], i: int, rows: list[dict[str, Any]]) -> list[list[str]]:
    """The messages each row of state ``i`` shows: its own problem, then the service's for its field."""
    out = []
    for row in rows:
        messages = [str(row["problem"])] if row.get("problem") else []
        if not row.get("problem"):
            messages += [str(m) for m in errors.get(f"states.{i}.on_enter.{row['field']}") or []]
        out.append(messages)
    return out


def record_labels(ctx: ServiceContext, entity: str | None, states: list[dict[str, Any]],
                  fields: dict[str, dict[str, Settable]]) -> dict[str, str]:
    """``{"<entity>:<id>": name}`` of the records the states' rows point to (a customer, a user...): shown by name."""
    wanted: dict[str, set[int]] = {}
    for st in states:
        for f, v in (st.get("on_enter") or {}).items():
            spec = fields.get(entity or "", {}).get(f)
            if spec is not None and spec.related and isinstance(v, int) and not isinstance(v, bool):
                wanted.setdefault(spec.related, set()).add(v)
    out: dict[str, str] = {}
    for target, ids in wanted.items():
        try:
            found = record_picker.labels(ctx, target, sorted(ids))
        except Exception:  # noqa: BLE001 - a record type they may not read: shown by number
            ctx.session.rollback()
            continue
        out.update({f"{target}:{r['value']}": str(r["label"]) for r in found})
    return out


def in_words(ctx: ServiceContext, entity: str | None, state: dict[str, Any], fields: dict[str, dict[str, Settable]],
             labels: dict[str, str]) -> list[str]:
    """What entering ``state`` does, in words: "Level: A", "Owner: 张三", then the actions by name."""
    known = fields.get(entity or "", {})
    action_words = dict(action_choices(ctx))
    out = []
    for f, v in (state.get("on_enter") or {}).items():
        spec = known.get(f)
        if spec is None:
            out.append(f"{f}: {v}")
            continue
        shown: Any = v
        if v is None or v == "":
            shown = _("empty")
        elif spec.kind == "bool":
            shown = _("yes") if v is True else _("no") if v is False else v
        elif spec.choices:
            shown = dict(spec.choices).get(v, v)
        elif spec.related:
            shown = labels.get(f"{spec.related}:{v}", f"#{v}")
        out.append(f"{spec.label}: {shown}")
    out += [str(_("Run: %(action)s", action=action_words.get(n, n))) for n in action_names(state)]
    return out


_PLACES: dict[str, Any] = {"name": _("Name"), "entity": _("Records"), "state_field": _("The state is kept in"),
                           "priority": _("Priority"), "condition": _("Applies to records when"), "states": _("States"),
                           "transitions": _("Transitions"), "label": _("Label"), "action": _("Action"),
                           "from_state": _("From"), "to_state": _("To"), "guard": _("Only when"),
                           "policy": _("Approval policy"), "on_enter": _("On entering, set"), "actions": _("Actions"),
                           "set": _("On entering, set")}


def error_place(path: str, data: dict[str, Any], fields: dict[str, dict[str, Settable]]) -> str:
    """Where an error of the workflow form is, in words (``states.1.on_enter.owner_id``: "State 成交客户 ·
    On entering, set · Owner"), for the list of errors at the top of the page."""
    parts = path.split(".")
    head = parts[0]
    if head in ("states", "transitions") and len(parts) > 1 and parts[1].isdigit():
        items = data.get(head) or []
        n = int(parts[1])
        item = items[n] if n < len(items) and isinstance(items[n], dict) else {}
        if head == "states":
            words = [str(_("State %(name)s", name=item.get("label") or item.get("name") or n + 1))]
        else:
            words = [str(_("Transition %(name)s", name=item.get("label") or item.get("action") or n + 1))]
        rest = parts[2:]
        if rest:
            words.append(str(_PLACES.get(rest[0], rest[0])))
        if rest[:1] == ["on_enter"] and len(rest) > 1:
            spec = fields.get(str(data.get("entity") or ""), {}).get(".".join(rest[1:]))
            words.append(spec.label if spec is not None else ".".join(rest[1:]))
        elif rest[:1] in (["actions"], ["set"]) and len(rest) > 1 and rest[1].isdigit():
            words.append(str(_("row %(n)s", n=int(rest[1]) + 1)))
        return " · ".join(words)
    return str(_PLACES.get(head, path))


def effects(ctx: ServiceContext, workflows: list[Any]) -> dict[int, list[tuple[str, str]]]:
    """``{workflow id: [(state, what entering it does, in words)]}`` for the list of workflows."""
    fields = fields_by_entity(ctx)
    out: dict[int, list[tuple[str, str]]] = {}
    for wf in workflows:
        states = [{"name": s.name, "label": s.label, "on_enter": s.on_enter or {}, "actions": s.actions or []}
                  for s in wf.states if s.on_enter or s.actions]
        labels = record_labels(ctx, wf.entity, states, fields)
        out[wf.id] = [(st["label"] or st["name"], " · ".join(in_words(ctx, wf.entity, st, fields, labels)))
                      for st in states]
    return out
