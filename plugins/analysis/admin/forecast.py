"""The forecast page: next months' revenue, orders and top product categories with prediction intervals
and each forecast's backtest against the seasonal naive baseline; the pipeline weighted by learned
stage-win rates, with the check of those rates on recently closed opportunities."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, redirect, url_for
from flask_admin import expose

from crmcore.admin.views import SecureView, flash_crm_error
from crmcore.errors import CRMError
from crmcore.i18n import gettext

from ..services import forecast
from .charts import forecast_chart


class ForecastView(SecureView):
    """Forecasts over the customers the user may see (a stored company-wide run for who sees all)."""

    permission = "analysis.read"

    @expose("/")
    def index(self) -> Any:
        ctx = self.ctx()
        try:
            result = forecast.latest(ctx)
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
            result = None
        charts, totals = {}, {}
        for s in (result or {}).get("series", []):
            totals[s["name"]] = forecast.total_next(s)
            charts[s["name"]] = forecast_chart(
                s["months"], s["history"], s["forecast"], title=s["label"], history_label=gettext("History"),
                forecast_label=gettext("Forecast"),
                interval_label=gettext("%(level)s %% prediction interval", level=(s["forecast"] or {}).get("level", 80)))
        computed_at = (result or {}).get("computed_at")  # a limited reader's kept forecast: when it was fitted
        return self.render("admin/analysis/forecast.html", result=result, charts=charts, totals=totals,
                           computed_at=dt.datetime.fromisoformat(computed_at) if computed_at else None,
                           model_label=forecast.model_label, can_run=ctx.can("analysis.run") and ctx.scope == "all")

    @expose("/run", methods=["POST"])
    def run(self) -> Any:
        """Fit, backtest and store the company-wide forecast now (as ``crm analyze forecast`` does)."""
        ctx = self.ctx()
        if not ctx.can("analysis.run"):
            return self.forbidden(gettext("You need the permission '%(permission)s' to do this.",
                                          permission="analysis.run"))
        try:
            forecast.run_forecast(ctx)
        except CRMError as exc:
            ctx.session.rollback()
            flash_crm_error(exc)
        else:
            flash(gettext("Forecast computed and stored."), "success")
        return redirect(url_for(".index"))
