"""The analysis plugin's nightly jobs, declared without importing its services (numpy and the fits) or its
commands: they load when a job runs, so a web worker learns the jobs' names and intervals without ``cli.py``."""
from __future__ import annotations

from crmcore.contracts import Job
from crmcore.runtime import ServiceContext


def nightly(ctx: ServiceContext) -> None:
    """RFM, basket rules, then CLV and churn (skipped while there is too little history to fit)."""
    from crmcore.errors import ValidationError

    from .services import basket, churn, clv, rfm

    rfm.run_rfm(ctx)
    ctx.report_progress(1, 4)  # between steps: progress shows in `crm jobs list`, and a cancel stops here
    basket.run_basket(ctx)
    ctx.report_progress(2, 4)
    for done, step in enumerate((clv.run_clv, churn.run_churn), 3):
        try:
            step(ctx)
        except ValidationError:  # too little history yet: nothing to fit; RFM and rules still ran
            ctx.session.rollback()
        ctx.report_progress(done, 4)


def refresh_tags(ctx: ServiceContext) -> None:
    """Refresh the customer tags of every active tag rule."""
    from .services import tags

    tags.apply_rules(ctx)


def forecast(ctx: ServiceContext) -> None:
    """Forecast revenue and orders and weigh the pipeline (stored for the forecast page)."""
    from .services import forecast as run

    run.run_forecast(ctx)


JOBS = [Job("analysis.nightly", nightly, 24 * 3600, "Recompute RFM segments, basket rules, CLV and churn scores"),
        Job("analysis.forecast", forecast, 24 * 3600, "Forecast revenue and orders and weigh the pipeline"),
        Job("analysis.tags", refresh_tags, 6 * 3600, "Refresh customer tags from the tag rules")]
