"""The report builder in the admin: the list of reports, a form (record type, filters with the condition builder,
groups, measures, display, sharing by name, home page, schedule), the report page (table, pivot or chart) with
CSV/XLSX export, and the records behind a cell (drill-down)."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from sqlalchemy import func, select

from crmcore import entities as meta
from crmcore.admin import policy_form
from crmcore.admin.forms import role_label
from crmcore.admin.views import SecureView
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l
from crmcore.models import Role, User
from crmcore.runtime import ServiceContext
from crmcore.services.condition_fields import TITLE_COLUMNS, scoped

from . import labels
from .services import definition, query, render, store
from .services.definition import AGGREGATES, BUCKETS, MAX_MEASURES, NUMERIC, ORDERED

MEASURE_ROWS = 3
MAX_RECORDS = 200


def admin_views(db: Any) -> list[Any]:
    return [ReportsView(name=_l("Reports"), endpoint="reports_admin", url="/admin/reports")]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def read_form(form: Any) -> dict[str, Any]:
    """The posted report form as the service's data (the service validates it)."""
    groups = []
    for i in range(definition.MAX_GROUPS):
        name = (form.get(f"group_{i}") or "").strip()
        if name:
            groups.append({"field": name, "bucket": (form.get(f"bucket_{i}") or None)})
    measures = []
    for i in range(MAX_MEASURES):
        agg = (form.get(f"agg_{i}") or "").strip()
        if agg:
            measures.append({"agg": agg, "field": (form.get(f"measure_{i}") or None) if agg != "count" else None})
    text = (form.get("filters") or "").strip()
    try:
        filters = json.loads(text) if text else None
    except ValueError:
        filters = text  # refused by the service, next to the field
    shares = [{"role_id": _int(v, 0)} for v in form.getlist("share_roles")]
    shares += [{"user_id": _int(v, 0)} for v in form.getlist("share_users")]
    return {"name": (form.get("name") or "").strip(), "description": (form.get("description") or "").strip() or None,
            "entity": form.get("entity") or "", "filters": filters, "group_by": groups, "measures": measures,
            "sort": form.get("sort") or "group", "sort_desc": form.get("sort_desc") == "on",
            "row_limit": _int(form.get("row_limit"), 500), "display": form.get("display") or "table",
            "on_home": form.get("on_home") == "on", "schedule": form.get("schedule") or "none",
            "schedule_weekday": _int(form.get("schedule_weekday"), 0), "schedule_day": _int(form.get("schedule_day"), 1),
            "schedule_time": (form.get("schedule_time") or "08:00").strip()[:5], "shares": shares}


def _field_choices(ctx: ServiceContext, entity: str) -> dict[str, list[tuple[str, str]]]:
    """The fields of ``entity`` by use: any (group), numeric (sum, average), ordered (lowest, highest)."""
    fields = definition.entity_fields(ctx, entity)
    every = sorted(((f.name, str(f.label)) for f in fields.values()), key=lambda x: (x[0].count("."), x[1]))
    return {"group": every, "numeric": [c for c in every if fields[c[0]].kind in NUMERIC],
            "ordered": [c for c in every if fields[c[0]].kind in ORDERED],
            "dates": [c[0] for c in every if fields[c[0]].kind in ("date", "datetime")]}


class ReportsView(SecureView):
    """Reports: list, build, view, export, drill down."""

    permission = "reports.read"
    write_permission = "reports.manage"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        names = {e.name: str(e.label) for e in meta.registered(ctx).values()}
        return self.render("reports/admin/reports.html", reports=store.list_reports(ctx), entity_names=names,
                           displays=labels.DISPLAYS, schedules=labels.SCHEDULES, can_manage=ctx.can("reports.manage"))

    @expose("/new", methods=["GET", "POST"])
    @expose("/<int:id>/edit", methods=["GET", "POST"])
    def edit(self, id: int | None = None) -> Any:
        ctx = self.ctx()
        if not ctx.can("reports.manage"):
            return self.forbidden()
        try:
            report = store.get_report(ctx, id) if id else None
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        errors: dict[str, list[str]] = {}
        if report is not None:
            data = {**definition.definition_of(report), "shares": store.shares_of(report)}
        else:
            data = {**definition.DEFAULTS, "name": "", "entity": "", "measures": [{"agg": "count"}], "shares": []}
        if request.method == "POST":
            data = read_form(request.form)
            try:
                saved = store.create_report(ctx, data) if report is None else store.update_report(
                    ctx, report.id, data, _int(request.form.get("version"), 0) or None)
                flash(gettext("Report '%(name)s' saved.", name=saved.name), "success")
                return redirect(url_for(".view", id=saved.id))
            except CRMError as exc:
                ctx.session.rollback()
                flash(exc.message, "error")
                errors = {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in (exc.errors or {}).items()}
        entity = request.args.get("entity") or data.get("entity") or ""
        readable = meta.readable(ctx)
        if entity not in {e.name for e in readable}:
            entity = ""
        share_roles = {s.get("role_id") for s in data.get("shares") or []} | {
            r.id for r in ctx.session.scalars(select(Role)) if {"role": r.name} in (data.get("shares") or [])}
        share_users = {s.get("user_id") for s in data.get("shares") or []} | {
            u.id for u in ctx.session.scalars(select(User)) if {"user": u.username} in (data.get("shares") or [])}
        return self.render(
            "reports/admin/report_form.html", report=report, data=data, errors=errors, entity=entity,
            entities=[(e.name, str(e.label)) for e in sorted(readable, key=lambda e: str(e.label))],
            fields=_field_choices(ctx, entity) if entity else None, aggregates=[(a, labels.AGGREGATES[a]) for a in AGGREGATES],
            buckets=[(b, labels.BUCKETS[b]) for b in BUCKETS], displays=list(labels.DISPLAYS.items()),
            schedules=list(labels.SCHEDULES.items()), weekdays=list(enumerate(labels.WEEKDAYS)),
            sorts=list(labels.SORTS.items()), measure_rows=max(MEASURE_ROWS, len(data.get("measures") or [])),
            roles=[(r.id, role_label(r)) for r in ctx.session.scalars(select(Role).order_by(Role.name))],
            users=[(u.id, u.full_name or u.username) for u in ctx.session.scalars(
                select(User).where(User.active.is_(True)).order_by(User.username))],
            share_roles=share_roles, share_users=share_users, builder_text=policy_form.builder_text(),
            filters_json=json.dumps(data["filters"], ensure_ascii=False) if isinstance(data.get("filters"), (dict, list))
            else (data.get("filters") or ""))

    @expose("/<int:id>")
    def view(self, id: int) -> Any:
        ctx = self.ctx()
        try:
            report = store.get_report(ctx, id)
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        definition_ = definition.definition_of(report)
        try:
            result, problem = query.run(ctx, definition_, report.name), None
        except CRMError as exc:  # too slow, or the reader's rules cannot answer: said on the page
            ctx.session.rollback()
            report = store.get_report(ctx, id)
            result, problem = None, exc
        chart = render.svg(result) if result is not None and report.display in ("bar", "line", "stacked_bar", "pie") else None
        pivot = render.pivot(result) if result is not None and report.display == "pivot" and result.rows else None
        return self.render("reports/admin/report.html", report=report, result=result, problem=problem, chart=chart,
                           pivot=pivot, fmt=render._fmt, drill_keys=lambda row: ["" if k is None else str(k) for k in row["keys"]], can_manage=ctx.can("reports.manage"),
                           display_label=labels.DISPLAYS.get(report.display, report.display))

    @expose("/<int:id>/export.<fmt>")
    def export(self, id: int, fmt: str) -> Any:
        ctx = self.ctx()
        if fmt not in ("csv", "xlsx"):
            return self.forbidden()
        try:
            report = store.get_report(ctx, id)
            result = query.run(ctx, definition.definition_of(report), report.name)
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        headers = {"Content-Disposition": f'attachment; filename="report-{report.id}.{fmt}"'}
        if fmt == "xlsx":
            return Response(render.to_xlsx(result), headers=headers,
                            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        return Response(render.to_csv(result), headers=headers, mimetype="text/csv; charset=utf-8")

    @expose("/<int:id>/records")
    def records(self, id: int) -> Any:
        """The records behind one row or cell: the report's filters plus the group values clicked."""
        ctx = self.ctx()
        try:
            report = store.get_report(ctx, id)
            rows = drill(ctx, definition.definition_of(report), request.args.getlist("key"))
        except CRMError as exc:
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        return self.render("reports/admin/records.html", report=report, rows=rows, limit=MAX_RECORDS,
                           keys=request.args.getlist("cell"))

    @expose("/builder/meta/<entity>")
    def builder_meta(self, entity: str) -> Any:
        """The condition builder's fields of the entity (labels in the reader's language)."""
        ctx = self.ctx()
        if not ctx.can("reports.manage"):
            return self.forbidden()
        try:
            return jsonify(policy_form.builder_meta(ctx, entity))
        except CRMError as exc:
            return jsonify(exc.to_dict()), exc.status

    @expose("/builder/matches/<entity>", methods=["POST"])
    def builder_matches(self, entity: str) -> Any:
        """How many records the filters being edited match, among those the reader may see."""
        from crmcore.services.condition_fields import matches

        ctx = self.ctx()
        if not ctx.can("reports.manage"):
            return self.forbidden()
        body = request.get_json(silent=True)
        try:
            return jsonify(matches(ctx, entity, body if isinstance(body, dict) else {}))
        except CRMError as exc:
            ctx.session.rollback()
            return jsonify(exc.to_dict()), exc.status


def _typed(kind: str, key: str) -> Any:
    """A group value from a link, read as the field's type (an unreadable one matches nothing)."""
    import datetime as dt
    from decimal import Decimal, InvalidOperation

    try:
        if kind == "int":
            return int(key)
        if kind in ("num", "money"):
            return Decimal(key)
        if kind == "bool":
            return key.lower() in ("true", "1")
        if kind == "date":
            return dt.date.fromisoformat(key)
        if kind == "datetime":
            return dt.datetime.fromisoformat(key)
    except (ValueError, InvalidOperation):
        return None
    return key


def drill(ctx: ServiceContext, data: dict[str, Any], keys: list[str]) -> list[dict[str, Any]]:
    """The records (at most ``MAX_RECORDS``) the report counts in the row of ``keys`` (its group values as
    text), with their title and the values of the report's fields; one query, under the reader's rules."""
    from crmcore.conditions import compile_sql

    entity = meta.get(ctx, data["entity"])
    known = definition.entity_fields(ctx, entity.name)
    model = entity.model
    dialect = ctx.session.get_bind().dialect.name
    where = [compile_sql(data.get("filters"), known, "filters")]
    for group, key in zip(data.get("group_by") or [], keys, strict=False):
        spec = known[group["field"]]
        expr = query.bucket(spec.expr, spec.kind, group["bucket"], query.zone_of(ctx), dialect) \
            if group.get("bucket") else spec.expr
        where.append(expr.is_(None) if key == "" else expr == (key if group.get("bucket") else _typed(spec.kind, key)))
    titles = [getattr(model, c) for c in TITLE_COLUMNS if c in model.__table__.c]
    shown = [known[m["field"]] for m in data["measures"] if m.get("field") in known]
    stmt = select(model.id, func.coalesce(*titles, "") if titles else model.id, *[f.expr for f in shown]).where(*where)
    if "deleted_at" in model.__table__.c:
        stmt = stmt.where(model.deleted_at.is_(None))
    stmt = scoped(ctx, entity.name, model, stmt).order_by(model.id).limit(MAX_RECORDS)
    return [{"id": r[0], "title": str(r[1]), "values": [(f.label, render._fmt(v)) for f, v in zip(shown, r[2:], strict=True)]}
            for r in ctx.session.execute(stmt).all()]
