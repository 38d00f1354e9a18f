"""The workflow designer's form without JSON: states and transitions as rows, read back into a definition."""
from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from .. import entities as meta
from ..models import Role
from ..runtime import ServiceContext
from ..services import approvals as approval_svc
from ..services.workflow_registry import entities
from . import labels, state_editor
from .forms import role_label

_ROW = re.compile(r"^(states|transitions)-(\d+)-(\w+)$")


def form_choices(ctx: ServiceContext) -> dict[str, Any]:
    """What the workflow form offers: entities and their text fields (for the state) by label, roles, policies."""
    declared = meta.registered(ctx)
    state_fields = []
    for name, spec in sorted(entities(ctx).items()):
        entity = declared.get(name)
        options = []
        for column in sa_inspect(spec.model).columns:
            if meta.column_kind(column) != "str" or meta.internal(column.key) or (
                    entity is not None and meta.is_hidden(entity, column.key)):  # never a hash, with or without metadata
                continue
            label = entity.labels.get(column.key) if entity is not None else None
            options.append((column.key, str(label or labels.field(column.key))))
        state_fields.append((name, str(spec.label or name), options))
    return {"entities": [(n, str(s.label or n)) for n, s in sorted(entities(ctx).items())], "state_fields": state_fields,
            "roles": [(r.name, role_label(r.name)) for r in ctx.session.scalars(select(Role).order_by(Role.name))],
            "policies": [p.name for p in approval_svc.list_policies(ctx)]}


def _json(text: str | None, default: Any) -> Any:
    text = (text or "").strip()
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return text  # the service refuses it next to its field


def read_workflow(form: MultiDict[str, str], fields: dict[str, Any] | None = None,
                  before: dict[str, Any] | None = None) -> dict[str, Any]:
    """The posted form as the service's definition: rows without a name are left out, as are removed ones. Each
    state's "on entering" rows and actions are read by :func:`state_editor.read_state` (``fields``: the settable
    fields by entity; ``before``: the workflow as saved); the rows to show again are in ``definition["_rows"]``
    and their own problems in ``definition["_problems"]`` (both taken out before the service sees it)."""
    rows: dict[str, set[int]] = {"states": set(), "transitions": set()}
    for key in form:
        if m := _ROW.match(key):
            rows[m.group(1)].add(int(m.group(2)))
    states: list[dict[str, Any]] = []
    transitions: list[dict[str, Any]] = []
    entity = form.get("entity")
    saved = {s.get("name"): s for s in (before or {}).get("states") or []}
    shown: list[list[dict[str, Any]]] = []
    problems: dict[str, list[Any]] = {}
    for i in sorted(rows["states"]):
        def st(name: str, i: int = i) -> str:
            return (form.get(f"states-{i}-{name}") or "").strip()
        if st("removed") or not (st("name") or st("label")):
            continue
        name = st("name") or st("label")
        on_enter, acts, state_rows = state_editor.read_state(form, i, entity, fields or {}, saved.get(name))
        for j, row in enumerate(state_rows):
            if row["problem"]:
                problems.setdefault(f"states.{len(states)}.set.{j}", []).append(row["problem"])
        shown.append(state_rows)
        states.append({"name": name, "label": st("label") or None, "initial": bool(st("initial")),
                       "final": bool(st("final")), "on_enter": on_enter, "actions": acts})
    initial = (form.get("initial") or "").strip()
    for s in states:
        s["initial"] = s["initial"] or (bool(initial) and s["name"] == initial)
    for i in sorted(rows["transitions"]):
        def tr(name: str, i: int = i) -> str:
            return (form.get(f"transitions-{i}-{name}") or "").strip()
        if tr("removed") or not tr("action"):
            continue
        transitions.append({"action": tr("action"), "label": tr("label") or None, "from_state": tr("from_state") or "*",
                            "to_state": tr("to_state"), "roles": form.getlist(f"transitions-{i}-roles"),
                            "guard": _json(tr("guard"), None), "policy": tr("policy") or None,
                            "allow_self_approval": bool(tr("allow_self_approval"))})
    priority = (form.get("priority") or "").strip()
    return {"name": (form.get("name") or "").strip(), "entity": form.get("entity"),
            "state_field": form.get("state_field") or "status", "description": form.get("description") or None,
            "priority": int(priority) if priority.lstrip("-").isdigit() else (priority or 100),
            "condition": _json(form.get("condition"), None), "active": bool(form.get("active")),
            "states": states, "transitions": transitions, "_rows": shown, "_problems": problems}
