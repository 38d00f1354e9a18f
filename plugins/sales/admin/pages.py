"""The pipeline board (opportunities by stage, moved by drag and drop or a click) and the KPI dashboard (cards,
server-rendered SVG charts, the custom metrics shared with the user)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from pathlib import Path

from flask import flash, jsonify, redirect, request, send_from_directory, session, url_for
from flask_admin import expose
from sqlalchemy import or_, select

from crmcore.admin.forms import user_label
from crmcore.admin.views import SecureView, flash_crm_error
from crmcore.errors import CRMError
from crmcore.i18n import gettext, local_money, local_percent
from crmcore.models import Role, Team, User
from crmcore.services.access import team_ids

from ..models import Opportunity
from ..services import access, metrics, opportunities
from ..services.kpis import KpiQuery, compute, plan_completion, sales_amount
from ..services.money import base_currency
from ..services.periods import Period, parse_period
from ..services.subjects import resolve_subject
from .charts import bar_chart, ratio_bar
from crmcore.schemas.common import db_id
from crmcore.runtime import ServiceContext

MONTHS_SHOWN = 6
STATIC = Path(__file__).resolve().parent.parent / "static"


class BoardView(SecureView):
    """Opportunities by stage; a rep sees their own, a manager the team's. Cards move by drag and drop
    (a small served script posting to :meth:`move`) or, without JavaScript, with each card's form."""

    permission = "sales.opportunity.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        owner_id = request.args.get("owner_id", type=db_id)
        columns = opportunities.board(ctx, owner_id=owner_id)
        return self.render("admin/sales/board.html", columns=columns, owners=sales_owners(ctx), owner_id=owner_id,
                           can_move=ctx.can("sales.opportunity.write"),
                           stages=[c["stage"] for c in columns])

    @expose("/board.js")
    def script(self) -> Any:
        """The board's drag-and-drop script, served by the app (no CDN)."""
        return send_from_directory(STATIC, "board.js", mimetype="text/javascript", max_age=3600)

    @expose("/move", methods=["POST"])
    def move(self) -> Any:
        """Move a card to a stage through the opportunities service; JSON for the script, else back to the board."""
        ctx = self.ctx()
        wants_json = request.accept_mimetypes.best == "application/json"
        status, message = 200, ""
        try:
            opp_id = int(request.form.get("opportunity_id", ""))
            stage_id = int(request.form.get("stage_id", ""))
            extra = {k: request.form[k] for k in ("lost_reason",) if request.form.get(k)}
            opp = opportunities.move_stage(ctx, opp_id, stage_id, **extra)
            message = gettext("%(name)s moved to %(stage)s.", name=opp.name, stage=opp.stage.name)
            flash(message, "success")
        except ValueError:
            status, message = 400, gettext("Choose an opportunity and a stage.")
            flash(message, "error")
        except CRMError as exc:
            ctx.session.rollback()
            status, message = exc.status, str(exc.message)
            flash_crm_error(exc)
        if wants_json:
            if status != 200:
                session.pop("_flashes", None)  # the script shows the error on the board itself
            return jsonify({"ok": status == 200, "message": message}), status
        return redirect(url_for(".index", **({"owner_id": request.args["owner_id"]} if request.args.get("owner_id")
                                             else {})))


def sales_owners(ctx: ServiceContext) -> list[tuple[int, str]]:
    """The board's owner filter: sales people by name (active users whose role may own opportunities,
    and anyone owning one), within what the actor may see."""
    roles = [r.id for r in ctx.session.scalars(select(Role)) if {"sales.opportunity.write", "sales.*"} & set(r.permissions)]
    owning = select(Opportunity.owner_id).where(Opportunity.owner_id.is_not(None)).distinct()
    stmt = select(User).where(User.active.is_(True), or_(User.role_id.in_(roles), User.id.in_(owning)))
    visible = access.visible_owner_ids(ctx)
    if visible is not None:
        stmt = stmt.where(User.id.in_(visible))
    users = ctx.session.scalars(stmt).all()
    return sorted(((u.id, user_label(u)) for u in users), key=lambda pair: pair[1].casefold())


def _fmt(value: Any, unit: str, currency: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return local_percent(Decimal(value))
    if unit == "money":
        return local_money(Decimal(value), currency)
    if unit == "days":
        return gettext("%(days)s d", days=value)
    return str(value)


def _recent_months(period: Period) -> list[Period]:
    end = period if period.kind == "month" else parse_period(f"{period.end.year}-{period.end.month:02d}").previous()
    months = [Period(end.start, end.end, "month", end.label, period.tz)]
    while len(months) < MONTHS_SHOWN:
        months.insert(0, months[0].previous())
    return months


class KpiDashboardView(SecureView):
    """KPIs for a rep, team or the company and a period, with charts."""

    permission = "sales.kpi.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        args = request.args
        try:
            subject = resolve_subject(ctx, rep_id=args.get("rep_id", type=db_id) or None,
                                      team_id=args.get("team_id", type=db_id) or None)
            period = parse_period(args.get("period") or None, ctx)
            currency = (args.get("currency") or base_currency(ctx)).upper()
            q = KpiQuery(subject, period, currency)
            values = compute(ctx, q)
        except CRMError as exc:
            flash_crm_error(exc)
            return redirect(url_for(".index"))
        cards = [{"key": v.key, "label": v.label, "unit": v.unit, "value": _fmt(v.value, v.unit, currency),
                  "note": v.note, "excluded": v.excluded_currencies,
                  "bar": ratio_bar(v.value) if v.unit == "ratio" and v.value is not None else None}
                 for v in values.values() if v.key != "pipeline"]
        pipeline = values["pipeline"]
        pipeline_chart = bar_chart([d["stage"] for d in pipeline.detail or []],
                                   [(gettext("Amount"), [d["amount"] for d in pipeline.detail or []]),
                                    (gettext("Weighted"), [d["weighted"] for d in pipeline.detail or []])],
                                   title=gettext("Pipeline by stage"))
        months = _recent_months(period)
        sales = [sales_amount(ctx, KpiQuery(subject, m, currency)).value for m in months]
        plans = [plan_completion(ctx, KpiQuery(subject, m, currency)).denominator for m in months]
        trend_chart = bar_chart([m.label for m in months], [(gettext("Sales"), sales), (gettext("Plan"), plans)],
                                title=gettext("Sales and plan by month"))
        shared = []
        for metric in metrics.visible_metrics(ctx):
            try:
                shared.append(metrics.evaluate(ctx, metric.id, subject, period, currency))
            except CRMError as exc:
                shared.append({"label": metric.label, "value": None, "error": exc.message})
        reps, teams = self._choices(ctx)
        return self.render("admin/sales/kpis.html", subject=subject, period=period, currency=currency, cards=cards,
                           pipeline=pipeline, pipeline_chart=pipeline_chart, trend_chart=trend_chart, shared=shared,
                           reps=reps, teams=teams, args=args)

    def _choices(self, ctx: ServiceContext) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        visible = access.visible_owner_ids(ctx)
        stmt = select(User).where(User.active.is_(True)).order_by(User.username)
        if visible is not None:
            stmt = stmt.where(User.id.in_(visible))
        reps = [(u.id, user_label(u)) for u in ctx.session.scalars(stmt)]
        tstmt = select(Team).order_by(Team.name)
        if ctx.scope == "own":
            return reps, []
        if ctx.scope == "team":
            tstmt = tstmt.where(Team.id.in_(team_ids(ctx) or [-1]))
        return reps, [(t.id, t.name) for t in ctx.session.scalars(tstmt)]
