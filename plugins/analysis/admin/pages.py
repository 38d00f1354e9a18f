"""The analysis dashboard (segment sizes, retention heat map, CLV distribution, top rules, loyalty
factors, CSV downloads) and the 7P profile page of one customer."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from flask import Response, abort, flash, redirect, request, stream_with_context, url_for
from flask_admin import expose

from crmcore.admin.views import SecureView, flash_crm_error
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l, local_number
from plugins.sales.services.money import base_currency

from ..models import ModelFit
from ..services import basket, checks, churn, clv, export, loyalty, profile, rfm, tags
from ..services.results import scoped_ids
from .charts import bar_chart, heat_map
from .profile_view import sections
from crmcore.services import customers
from crmcore.schemas.common import db_id
from crmcore.runtime import ServiceContext


# What the dashboard's "Run now" buttons run, with defaults (as of today), and the message each shows.
RUNS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], str]]] = {
    "rfm": (rfm.run_rfm, lambda r: gettext("RFM: %(n)s customers scored and segmented.",
                                           n=local_number(r["customers"]))),
    "clv": (clv.run_clv, lambda r: gettext("CLV: predictions stored for %(n)s customers.",
                                           n=local_number(r["customers"]))),
    "churn": (churn.run_churn, lambda r: gettext("Churn: %(n)s customers scored (AUC %(auc)s on the held-out period).",
                                                 n=local_number(r["customers"]), auc=local_number(r["auc"], 2))),
    "basket": (basket.run_basket, lambda r: gettext("Basket: %(n)s association rules found, %(useful)s with lift above 1.",
                                                    n=local_number(r["rules"]), useful=local_number(r["rules_lift_above_1"]))),
    "tags": (tags.apply_rules, lambda r: gettext("Tag rules applied: %(n)s.", n=len(r))),
}


# the CSV downloads by what they hold, in the reader's words
EXPORT_LABELS = {"rfm": _l("RFM scores"), "clv": _l("Lifetime value"), "churn": _l("Churn risk"),
                 "segments": _l("RFM segments"), "cohorts": _l("Retention by first-purchase month"),
                 "rules": _l("Association rules")}
# warnings about how the lifetime-value model was fitted: a manager reads the plain words, the
# technical text (model names, penalizer, command-line options) sits in a "details" part
FIT_NOTES = {"penalized_fallback", "not_converged", "spend_mean_undefined"}


def _band_labels(bands: list[dict[str, Any]]) -> list[str]:
    """``lo–hi`` of each CLV band, with as many decimals as it takes for no two neighbouring labels to
    share a number (whole units when they differ already; one number for a single-value band)."""
    for digits in (0, 1, 2):
        labels, ends = [], []
        for b in bands:
            lo, hi = local_number(b["min"], digits), local_number(b["max"], digits)
            labels.append(lo if lo == hi else f"{lo}–{hi}")
            ends.append((lo, hi))
        if all(ends[i][1] != ends[i + 1][0] for i in range(len(ends) - 1)):
            return labels
    return labels


def _clv_notes(ctx: ServiceContext) -> list[dict[str, Any]]:
    """The warnings stored with the latest CLV fit about the fit itself and the run date (penalizer
    fallback, no convergence, undefined mean spend, stale history); orders left out for want of a
    rate are shown above the dashboard, counted within the reader's scope."""
    from sqlalchemy import select

    fit = ctx.session.scalar(select(ModelFit).where(ModelFit.kind == "bgnbd")
                             .order_by(ModelFit.run_date.desc(), ModelFit.id.desc()).limit(1))
    stored = (fit.metrics or {}).get("warnings", []) if fit is not None else []
    return checks.localized([w for w in stored if w.get("code") != "missing_rate"])


class DashboardView(SecureView):
    """Charts of the latest runs over the customers the user may see."""

    permission = "analysis.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        ids = scoped_ids(ctx)
        today = dt.datetime.now(dt.timezone.utc).date()
        segments = rfm.segment_sizes(ctx, customer_ids=ids)
        segment_chart = bar_chart([s["label"] for s in segments], [(gettext("Customers"), [s["customers"] for s in segments])],
                                  title=gettext("Customers per segment"), width=max(640, 70 * len(segments)))
        cohorts = loyalty.cohort_table(ctx, today, 12, ids)
        bands = clv.clv_distribution(ctx, customer_ids=ids)
        band_labels = _band_labels(bands)
        clv_chart = bar_chart(band_labels, [(gettext("Customers"), [b["customers"] for b in bands])],
                              title=gettext("Customer lifetime value by decile"),  # room for each label
                              width=max(640, 8 * len(bands) * max((len(x) for x in band_labels), default=0)))
        return self.render("admin/analysis/dashboard.html", segments=segments, segment_chart=segment_chart,
                           heat=heat_map(cohorts, title=gettext("Retention by first-purchase month")),
                           cohorts=cohorts, clv_chart=clv_chart, bands=bands, rules=basket.top_rules(ctx, limit=15),
                           any_rules=bool(basket.top_rules(ctx, limit=1, min_lift=None)),
                           churn_model=churn.latest_model(ctx), clv_notes=_clv_notes(ctx),
                           missing=checks.missing_rates(ctx, today, base_currency(ctx), customer_ids=ids),
                           loyalty=loyalty.loyalty_summary(ctx, today, ids),
                           exports=[(name, EXPORT_LABELS.get(name, name)) for name in export.EXPORTS],
                           fit_notes=FIT_NOTES,
                           can_export=ctx.can("analysis.export"), can_run=ctx.can("analysis.run"),
                           can_tag=ctx.can("analysis.run") and ctx.can("customer.write"))

    @expose("/run", methods=["POST"])
    def run(self) -> Any:
        """Run one analysis now over every customer (as ``crm analyze <kind>`` does), then show the dashboard."""
        ctx = self.ctx()
        kind = request.form.get("kind", "")
        if kind not in RUNS:
            abort(400)
        if not ctx.can("analysis.run"):
            return self.forbidden(gettext("You need the permission '%(permission)s' to do this.",
                                          permission="analysis.run"))
        try:
            result = RUNS[kind][0](ctx)
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        else:
            flash(RUNS[kind][1](result), "success")
            for note in (result.get("warnings") or []) if isinstance(result, dict) else []:
                flash(note["message"], "warning")
        return redirect(url_for(".index"))

    @expose("/export/<table>.csv")
    def download(self, table: str) -> Any:
        ctx = self.ctx()
        try:
            header, rows = export.table(ctx, table)
        except CRMError as exc:
            return self.forbidden(exc.message) if exc.status == 403 else (exc.message, exc.status)
        bom = request.args.get("bom") in ("1", "true")
        return Response(stream_with_context(export.to_csv(header, rows, bom=bom)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="analysis_{table}.csv"'})


MATCHES = 20  # customers listed for a search on the profile page


class ProfileView(SecureView):
    """The 7P analysis of one customer, picked by a search by name (``?q=``) within the user's scope."""

    permission = "analysis.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        customer_id = request.args.get("customer_id", type=db_id)
        q = (request.args.get("q") or "").strip()
        data, view, matches = None, None, None
        try:
            if q and not customer_id:  # by name (or pinyin, phone, code) among the customers the user may see
                matches = list(customers.list_customers(ctx, q=q, page_size=MATCHES)[0])
                if len(matches) == 1:
                    customer_id = matches[0].id
            if customer_id:
                data = profile.profile(ctx, customer_id)
                view = sections(ctx, data)
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        return self.render("admin/analysis/profile.html", data=data, view=view, q=q, matches=matches,
                           more=MATCHES)
