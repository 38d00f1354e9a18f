"""Admin pages of the workflow designer: workflows, policies and tiers as validated JSON, a server-drawn
picture, a live condition check against a chosen record (the approval inbox is in ``approvals.py``)."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, jsonify, redirect, request, url_for
from flask_admin import expose
from markupsafe import Markup

from ..errors import CRMError, ValidationError
from ..i18n import gettext
from ..runtime import ServiceContext
from ..services import approval_inbox as inbox_svc
from ..services import approvals as approval_svc
from ..services import condition_fields
from .. import conditions
from ..services import workflow as wf_svc
from ..services.diagram import render_svg
from ..services.workflow_registry import entities
from . import policy_form, state_editor, workflow_form
from .condition_words import check_rows
from .views import SecureView, flash_crm_error
from ..schemas.common import db_id

EXAMPLE_WORKFLOW = {"name": "", "entity": "customer", "state_field": "stage", "priority": 100, "condition": None,
                    "states": [{"name": "lead", "initial": True}, {"name": "prospect"}],
                    "transitions": [{"action": "qualify", "from_state": "lead", "to_state": "prospect", "roles": []}]}
EXAMPLE_POLICY = {"name": "", "entity": "quote", "action": "submit", "provider": "internal", "key_fields": ["total"],
                  "tiers": [{"step": 1, "condition": {"predicate": "sales.quote.discount_over", "args": {"percent": 15}},
                             "reviewers": [{"kind": "manager_of", "value": "owner_id"}], "quorum": 1,
                             "mode": "parallel"}]}


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "")
    except ValueError as exc:
        raise ValidationError(gettext("The definition is not valid JSON: %(error)s", error=str(exc)),
                              errors={"definition": [str(exc)]}) from None
    if not isinstance(data, dict):
        raise ValidationError(gettext("The definition is a JSON object."), errors={"definition": ["{...}"]})
    return data


def _pretty(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def _without_state_effects(data: dict[str, Any]) -> dict[str, Any]:
    """The workflow for the advanced JSON view: what a state sets and runs on entering is edited in the form."""
    return {**data, "states": [{k: v for k, v in st.items() if k not in ("on_enter", "actions")}
                               for st in data.get("states") or []]}


def _keep_state_effects(posted: dict[str, Any], saved: dict[str, Any] | None) -> dict[str, Any]:
    """The advanced view's JSON with each state's saved ``on_enter`` and ``actions`` (by name) where it gives none."""
    before = {st["name"]: st for st in (saved or {}).get("states") or []}
    for st in posted.get("states") or []:
        if isinstance(st, dict) and isinstance(st.get("name"), str) and st["name"] in before:
            st.setdefault("on_enter", before[st["name"]]["on_enter"])
            st.setdefault("actions", before[st["name"]]["actions"])
    return posted


def _refuse(ctx: ServiceContext, posted: dict[str, Any], wf: Any, problems: dict[str, list[Any]]) -> None:
    """Raise the form's own problems together with everything the service says of the rest."""
    errors: dict[str, list[Any]] = {}
    try:
        wf_svc.validate_workflow_definition(ctx, posted, wf)
    except ValidationError as exc:
        errors = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in (exc.errors or {}).items()}
    for key, messages in problems.items():
        errors.setdefault(key, []).extend(messages)
    raise ValidationError(gettext("The workflow is not valid; see the errors of each field."), errors=errors)


class WorkflowDesignerView(SecureView):
    """Workflows and approval policies: list, create, edit (validated JSON), picture, live check."""

    permission = "workflow.read"
    write_permission = "workflow.manage"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        workflows = wf_svc.list_workflows(ctx)
        return self.render("admin/workflow/index.html", workflows=workflows, effects=state_editor.effects(ctx, workflows),
                           policies=approval_svc.list_policies(ctx), can_manage=ctx.can("workflow.manage"),
                           entity_labels=dict(policy_form.entity_choices(ctx)),
                           provider_labels=dict(policy_form.provider_choices(ctx)), action_labels=inbox_svc.ACTIONS)

    @expose("/workflow/new", methods=["GET", "POST"])
    @expose("/workflow/<int:workflow_id>", methods=["GET", "POST"])
    def workflow(self, workflow_id: int | None = None) -> Any:
        """A workflow as a form (states with what entering them sets and runs, transitions as rows, conditions
        with the builder) beside its picture; its JSON (without what states set and run) as the advanced view."""
        ctx = self.ctx()
        try:
            wf = wf_svc.get_workflow(ctx, workflow_id) if workflow_id else None
        except CRMError as exc:
            flash_crm_error(exc)
            return redirect(url_for(".index"))
        saved = {k: v for k, v in wf_svc.describe(wf).items() if k not in ("id", "version")} if wf else None
        data = saved
        text = _pretty(_without_state_effects(data)) if data else _pretty(EXAMPLE_WORKFLOW)
        errors: dict[str, Any] = {}
        editor = state_editor.editor_choices(ctx)
        shown_rows: list[list[dict[str, Any]]] | None = None
        if request.method == "POST":
            if not ctx.can("workflow.manage"):
                return self.forbidden()
            advanced = "definition" in request.form
            try:
                if advanced:
                    text = request.form.get("definition", "")
                    posted = _keep_state_effects(_parse(text), saved)
                else:
                    posted = workflow_form.read_workflow(request.form, editor["fields"], saved)
                    shown_rows, problems = posted.pop("_rows"), posted.pop("_problems")
                    data = posted
                    if problems:  # a row's own problem: nothing saved, the service's words on the rest too
                        _refuse(ctx, posted, wf, problems)
                if wf is None:
                    wf = wf_svc.create_workflow(ctx, posted)
                else:
                    wf = wf_svc.update_workflow(ctx, wf.id, posted, expected_version=request.form.get("version", type=db_id))
                flash(gettext("Workflow '%(name)s' saved.", name=wf.name), "success")
                return redirect(url_for(".workflow", workflow_id=wf.id))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")  # each error is listed in words above the form and shown at its row
                errors = exc.errors
        if data is None:
            data = {"name": "", "entity": "customer", "state_field": "stage", "priority": 100, "active": True,
                    "condition": None, "states": [{"name": "", "initial": True}, {"name": ""}], "transitions": [{}]}
        states: list[Any] = [st for st in data.get("states") or [] if isinstance(st, dict)] \
            if isinstance(data.get("states"), list) else []
        rows = shown_rows if shown_rows is not None else [state_editor.rows_of(st) for st in states]
        entity = str(data.get("entity") or "")
        picture = Markup(render_svg(wf)) if wf is not None else None  # noqa: S704 - render_svg escapes every name
        labels = state_editor.record_labels(ctx, entity, states + ((saved or {}).get("states") or []), editor["fields"])
        return self.render("admin/workflow/workflow.html", wf=wf, data=data, text=text, errors=errors, picture=picture,
                           can_manage=ctx.can("workflow.manage"), choices=workflow_form.form_choices(ctx),
                           builder_text=policy_form.builder_text(), editor=editor, state_rows=rows,
                           record_labels=labels, states=states, wf_states=saved["states"] if saved else [],
                           row_errors=state_editor.row_errors,
                           error_place=lambda path: state_editor.error_place(path, data, editor["fields"]), action_names=state_editor.action_names,
                           in_words=lambda st: state_editor.in_words(ctx, entity, st, editor["fields"], labels))

    # ---- structured edits: each one rewrites the definition through the same validated service ----
    def _edit_workflow(self, workflow_id: int, change: Any) -> Any:
        ctx = self.ctx()
        if not ctx.can("workflow.manage"):
            return self.forbidden()
        try:
            wf = wf_svc.get_workflow(ctx, workflow_id)
            data = {k: v for k, v in wf_svc.describe(wf).items() if k not in ("id", "version")}
            change(data)
            wf_svc.update_workflow(ctx, workflow_id, data, expected_version=request.form.get("version", type=db_id))
            flash(gettext("Workflow '%(name)s' saved.", name=wf.name), "success")
        except (ValueError, KeyError, IndexError):
            ctx.session.rollback()
            flash(gettext("The form is not complete."), "error")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".workflow", workflow_id=workflow_id))

    @expose("/workflow/<int:workflow_id>/states", methods=["POST"])
    def add_state(self, workflow_id: int) -> Any:
        """Add a state: its name, label, and what entering it sets and runs as the editor's rows of state 0
        (``states-0-set-<j>-field`` / ``-value``, ``states-0-act-<k>``)."""
        form = request.form
        fields = state_editor.fields_by_entity(self.ctx())

        def change(data: dict[str, Any]) -> None:
            on_enter, acts, rows = state_editor.read_state(form, 0, data["entity"], fields)
            if any(row["problem"] for row in rows):
                raise ValidationError(gettext("The form is not complete."),
                                      errors={"on_enter": [str(r["problem"]) for r in rows if r["problem"]]})
            data["states"].append({"name": form["name"].strip(), "label": form.get("label") or None,
                                   "initial": bool(form.get("initial")), "final": bool(form.get("final")),
                                   "on_enter": on_enter, "actions": acts})
        return self._edit_workflow(workflow_id, change)

    @expose("/workflow/<int:workflow_id>/states/<int:index>/delete", methods=["POST"])
    def delete_state(self, workflow_id: int, index: int) -> Any:
        return self._edit_workflow(workflow_id, lambda data: data["states"].pop(index))

    @expose("/workflow/<int:workflow_id>/transitions", methods=["POST"])
    def add_transition(self, workflow_id: int) -> Any:
        form = request.form

        def change(data: dict[str, Any]) -> None:
            guard = form.get("guard", "").strip()
            data["transitions"].append({
                "action": form["action"].strip(), "label": form.get("label") or None, "from_state": form["from_state"],
                "to_state": form["to_state"], "roles": form.getlist("roles"), "guard": _parse(guard) if guard else None,
                "allow_self_approval": bool(form.get("allow_self_approval")), "policy": form.get("policy") or None})
        return self._edit_workflow(workflow_id, change)

    @expose("/workflow/<int:workflow_id>/transitions/<int:index>/delete", methods=["POST"])
    def delete_transition(self, workflow_id: int, index: int) -> Any:
        return self._edit_workflow(workflow_id, lambda data: data["transitions"].pop(index))

    @expose("/policy/<int:policy_id>/tiers", methods=["POST"])
    def add_tier(self, policy_id: int) -> Any:
        ctx = self.ctx()
        if not ctx.can("workflow.manage"):
            return self.forbidden()
        form = request.form
        try:
            policy = approval_svc.get_policy(ctx, policy_id)
            data = approval_svc.describe_policy(policy)
            condition = form.get("condition", "").strip()
            escalate_kind = form.get("escalate_kind") or ""
            data["tiers"].append({
                "step": int(form["step"]), "name": form.get("name") or None,
                "condition": _parse(condition) if condition else None,
                "reviewers": [{"kind": form["reviewer_kind"], "value": form.get("reviewer_value", "").strip()}],
                "quorum": int(form.get("quorum") or 1), "mode": form.get("mode") or "parallel",
                "comment_required_on_reject": bool(form.get("comment_required_on_reject")),
                "remind_after": int(form["remind_after"]) if form.get("remind_after") else None,
                "timeout_after": int(form["timeout_after"]) if form.get("timeout_after") else None,
                "escalate_to": ({"kind": escalate_kind, "value": form.get("escalate_value") or None}
                                if escalate_kind else None)})
            data.pop("id", None)
            approval_svc.update_policy(ctx, policy_id, data)
            flash(gettext("Approval policy '%(name)s' saved.", name=policy.name), "success")
        except (ValueError, KeyError):
            ctx.session.rollback()
            flash(gettext("The form is not complete."), "error")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".policy", policy_id=policy_id))

    @expose("/policy/<int:policy_id>/tiers/<int:step>/delete", methods=["POST"])
    def delete_tier(self, policy_id: int, step: int) -> Any:
        ctx = self.ctx()
        if not ctx.can("workflow.manage"):
            return self.forbidden()
        try:
            policy = approval_svc.get_policy(ctx, policy_id)
            data = approval_svc.describe_policy(policy)
            data["tiers"] = [t for t in data["tiers"] if t["step"] != step]
            data.pop("id", None)
            approval_svc.update_policy(ctx, policy_id, data)
            flash(gettext("Approval policy '%(name)s' saved.", name=policy.name), "success")
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return redirect(url_for(".policy", policy_id=policy_id))

    @expose("/policy/new", methods=["GET", "POST"])
    @expose("/policy/<int:policy_id>", methods=["GET", "POST"])
    def policy(self, policy_id: int | None = None) -> Any:
        """The policy as a form (tiers with the condition builder, reviewers by name); its JSON as the advanced view."""
        ctx = self.ctx()
        try:
            policy = approval_svc.get_policy(ctx, policy_id) if policy_id else None
        except CRMError as exc:
            flash_crm_error(exc)
            return redirect(url_for(".index"))
        data = {k: v for k, v in approval_svc.describe_policy(policy).items() if k != "id"} if policy else None
        errors: dict[str, Any] = {}
        if request.method == "POST":
            if not ctx.can("workflow.manage"):
                return self.forbidden()
            advanced = "definition" in request.form
            try:
                data = _parse(request.form.get("definition", "")) if advanced else policy_form.read_policy(request.form)
                policy = approval_svc.create_policy(ctx, data) if policy is None else \
                    approval_svc.update_policy(ctx, policy.id, data)
                flash(gettext("Approval policy '%(name)s' saved.", name=policy.name), "success")
                return redirect(url_for(".policy", policy_id=policy.id))
            except CRMError as exc:
                ctx.session.rollback()
                flash_crm_error(exc)
                errors = exc.errors
                if advanced:
                    return self._policy_page(ctx, policy, data or EXAMPLE_POLICY, errors,
                                             text=request.form.get("definition", ""))
        if data is None:
            entity = request.args.get("entity")
            if entity not in entities(ctx):
                return self.render("admin/workflow/policy_entity.html", choices=policy_form.form_choices(ctx, "")["entities"])
            data = {"name": "", "entity": entity, "action": "submit" if entity == "quote" else None, "provider": "internal",
                    "key_fields": [], "active": True, "tiers": [{"reviewers": [], "quorum": 1, "mode": "parallel",
                                                                  "comment_required_on_reject": True}]}
        return self._policy_page(ctx, policy, data, errors)

    def _policy_page(self, ctx: ServiceContext, policy: Any, data: dict[str, Any], errors: dict[str, Any],
                     text: str | None = None) -> Any:
        entity = str(data.get("entity") or "")
        preview = _policy_preview(ctx, policy) if policy is not None else None
        return self.render("admin/workflow/policy.html", policy=policy, data=data, errors=errors, entity=entity,
                           text=text if text is not None else _pretty(data), choices=policy_form.form_choices(ctx, entity),
                           reviewer_value=policy_form.reviewer_value, reviewer_values=policy_form.reviewer_values,
                           preview=preview,
                           builder_text=policy_form.builder_text(), can_manage=ctx.can("workflow.manage"))

    @expose("/builder/meta/<entity>")
    def builder_meta(self, entity: str) -> Any:
        """The condition builder's fields for ``entity`` (labels in the reader's language), as JSON: for designers
        (it lists the users by name)."""
        ctx = self.ctx()
        if not ctx.can("workflow.manage"):
            return self.forbidden()
        try:
            return jsonify(policy_form.builder_meta(ctx, entity))
        except CRMError as exc:
            return jsonify(exc.to_dict()), exc.status

    @expose("/builder/matches/<entity>", methods=["POST"])
    def builder_matches(self, entity: str) -> Any:
        """The live count and sample of the records of ``entity`` the user may see that satisfy the posted condition."""
        ctx = self.ctx()
        if not ctx.can("workflow.manage"):
            return self.forbidden()
        try:
            return jsonify(condition_fields.matches(ctx, entity, request.get_json(silent=True)))
        except CRMError as exc:
            ctx.session.rollback()
            return jsonify(exc.to_dict()), exc.status

    @expose("/check", methods=["GET", "POST"])
    def check(self) -> Any:
        """Validate a condition and evaluate it against a chosen record, leaf by leaf."""
        ctx = self.ctx()
        text = request.form.get("condition") or _pretty({"field": "stage", "op": "eq", "value": "lead"})
        entity = request.form.get("entity") or "customer"
        record_id = request.form.get("record_id", type=db_id)
        problems: list[str] = []
        result = None
        rows: list[Any] = []
        if request.method == "POST":
            try:
                condition = json.loads(text)
                problems = conditions.validate(condition, ctx)
                if not problems and record_id:
                    ctx.require("workflow.manage")  # it shows the values it reads: designers only
                    record = wf_svc.load_record(ctx, entity, record_id)
                    result = conditions.evaluate(condition, record, ctx)
                    rows = check_rows(ctx, entity, condition, record)
            except ValueError as exc:
                problems = [gettext("The condition is not valid JSON: %(error)s", error=str(exc))]
            except CRMError as exc:
                ctx.session.rollback()
                problems = [exc.message]
        return self.render("admin/workflow/check.html", text=text, entity=entity, record_id=record_id,
                           entities=policy_form.entity_choices(ctx), problems=problems, result=result, rows=rows,
                           checked=request.method == "POST", builder_text=policy_form.builder_text(),
                           can_manage=ctx.can("workflow.manage"))


def _policy_preview(ctx: ServiceContext, policy: Any) -> dict[str, Any] | None:
    """Which existing records of the policy's entity would need approval now (any tier applies), or None when a
    tier's condition cannot be counted in SQL (a plugin's named predicate)."""
    conds = [t.condition for t in policy.tiers]
    condition = None if not conds or any(not c for c in conds) else {"any": conds}
    try:
        return condition_fields.matches(ctx, policy.entity, {"condition": condition, "limit": 10})
    except CRMError:
        ctx.session.rollback()
        return None
