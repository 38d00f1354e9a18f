"""The campaign report page: funnel, events per day, variants, RFM segments, lift against the control group,
attribution and a journey's steps, drawn by the server as escaped SVG; per-recipient outcomes and the
aggregates as CSV."""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator

from flask import Response, flash, redirect, request, stream_with_context, url_for
from flask_admin import expose

from crmcore.admin.views import SecureView
from crmcore.errors import CRMError
from crmcore.i18n import gettext, lazy_gettext as _l, local_time
from crmcore.services.exporter import safe_cell
from plugins.sales.admin.charts import bar_chart

from ..labels import FUNNEL, RECIPIENT_STATES
from ..labels_journeys import OUTCOMES, STATES, STEP_KINDS
from ..services import campaign_report, campaigns as svc, journey_report, results
from .campaigns import percent, points

STEPS = ("audience", "sent", "delivered", "opened", "clicked", "converted")
KINDS = {"sent": _l("Sent"), "delivered": _l("Delivered"), "bounced": _l("Bounced"), "opened": _l("Opened the message"),
         "clicked": _l("Clicked"), "replied": _l("Replied"), "unsubscribed": _l("Unsubscribed")}
STEP_LABELS = {**FUNNEL, "converted": _l("Converted")}


def to_csv(header: list[str], rows: Iterable[Iterable[Any]], *, bom: bool = False) -> Iterator[str]:
    """CSV text, header first, in chunks of 1000 rows; ``bom`` starts it with U+FEFF (as the analysis exports)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff" if bom else "")
    writer.writerow(header)
    for i, row in enumerate(rows, 1):
        writer.writerow([safe_cell(v) for v in row])  # a name like "=HYPERLINK(..)" stays text
        if i % 1000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def funnel_steps(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The funnel from the results service: each step's count, its rate of the step before and of the audience."""
    counts = {**report["funnel"], "converted": (report["conversions"] or {}).get("sent", 0)}
    out, before = [], None
    for key in STEPS:
        n = counts.get(key, 0)
        out.append({"key": key, "label": str(STEP_LABELS[key]), "count": n,
                    "of_previous": n / before if before else None,
                    "of_audience": n / counts["audience"] if counts["audience"] else None})
        before = n
    return out


def page_data(ctx: Any, campaign_id: int) -> dict[str, Any]:
    """Everything the page and the aggregates CSV show, from the services."""
    campaign = svc.get_campaign(ctx, campaign_id)
    report = results.report(ctx, campaign.id)
    data: dict[str, Any] = {"campaign": campaign, "report": report, "funnel": funnel_steps(report),
                            "over_time": campaign_report.over_time(ctx, campaign),
                            "segments": campaign_report.by_segment(ctx, campaign, report["window_days"]),
                            "steps": None}
    if campaign.kind == "journey":
        data["steps"] = journey_report.step_counts(ctx, campaign.id)
    return data


def _charts(data: dict[str, Any]) -> dict[str, Any]:
    report, charts = data["report"], {}
    charts["funnel"] = bar_chart([f["label"] for f in data["funnel"]],
                                 [(gettext("Customers"), [f["count"] for f in data["funnel"]])], title=gettext("Funnel"))
    time = data["over_time"]
    if time["days"]:
        charts["time"] = bar_chart([d[5:] for d in time["days"]],
                                   [(str(KINDS[k]), v) for k, v in time["series"].items()],
                                   title=gettext("Events per day"))
    ab = report["ab_test"]
    if ab:
        charts["variants"] = bar_chart([v["label"] for v in ab["variants"]],
                                       [(gettext("Rate"), [100 * (v["rate"] or 0) for v in ab["variants"]])],
                                       title=gettext("Results by variant"), unit="%")
    if data["segments"]:
        rows = data["segments"]
        charts["segments"] = bar_chart([r["label"] or gettext("No segment") for r in rows],
                                       [(gettext("Sent"), [r["sent"] for r in rows]),
                                        (str(KINDS["opened"]), [r["opened"] for r in rows]),
                                        (gettext("Clicked"), [r["clicked"] for r in rows]),
                                        (gettext("Converted"), [r["converted"] for r in rows])],
                                       title=gettext("Results by RFM segment"))
    conv = report["conversions"]
    if conv:
        charts["lift"] = bar_chart([str(FUNNEL["sent"]), str(FUNNEL["held_out"])],
                                   [(gettext("Conversion rate"), [100 * (conv["rate_sent"] or 0),
                                                                   100 * (conv["rate_control"] or 0)])],
                                   title=gettext("Conversion rate"), unit="%")
    return charts


def aggregate_rows(data: dict[str, Any]) -> Iterator[list[Any]]:
    """The page's numbers as (section, item, value) rows, in the reader's words."""
    report = data["report"]
    funnel = gettext("Funnel")
    for f in data["funnel"]:
        yield [funnel, f["label"], f["count"]]
    for day_i, day in enumerate(data["over_time"]["days"]):
        for kind, values in data["over_time"]["series"].items():
            yield [gettext("Events per day"), f"{day} {KINDS[kind]}", values[day_i]]
    for v in (report["ab_test"] or {}).get("variants", []):
        section = gettext("Variant %(label)s", label=v["label"])
        yield [section, gettext("Sent"), v["sent"]]
        yield [section, gettext("Reached the metric"), v["hits"]]
        yield [section, gettext("Rate"), percent(v["rate"])]
    for r in data["segments"] or []:
        section = gettext("RFM segment %(name)s", name=r["label"] or gettext("No segment"))
        for key in ("audience", "sent", "held_out", "opened", "clicked"):
            yield [section, str(STEP_LABELS[key]), r[key]]
        yield [section, gettext("Converted"), r["converted"]]
    conv = report["conversions"]
    if conv:
        section = gettext("Conversions")
        yield [section, str(FUNNEL["sent"]), conv["sent"]]
        yield [section, str(FUNNEL["held_out"]), conv["held_out"]]
        yield [section, gettext("Lift"), points(conv["lift"])]
        if conv["interval"]:
            yield [section, gettext("Confidence interval (95 percent)"), f"{points(conv['interval'][0])} – {points(conv['interval'][1])}"]
    attribution = report.get("attribution")
    if attribution:
        for key, label in (("last_touch", gettext("Last touch")), ("first_touch", gettext("First touch"))):
            yield [gettext("Attribution"), label, attribution[key]["orders"]]
            yield [gettext("Attribution"), f"{label} ({attribution['currency']})", attribution[key]["revenue"]]
    for step in (data["steps"] or {}).get("steps", []):
        for outcome, n in step["outcomes"].items():
            yield [gettext("Step %(name)s", name=step["name"]), str(OUTCOMES.get(outcome, outcome)), n]


class CampaignReportView(SecureView):
    """The report page of one campaign and its CSV exports (``marketing.read``, the campaign's record rules)."""

    permission = "marketing.read"

    def is_visible(self) -> bool:
        return False  # reached from a campaign's page and the campaign list

    def _data(self, campaign_id: int) -> Any:
        try:
            return page_data(self.ctx(), campaign_id)
        except CRMError as exc:
            if exc.status == 403:
                return self.forbidden(exc.message)
            flash(exc.message, "error")
            return redirect(url_for("marketing_campaigns.index"))

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("marketing_campaigns.index"))

    @expose("/<int:campaign_id>")
    def page(self, campaign_id: int) -> Any:
        data = self._data(campaign_id)
        if not isinstance(data, dict):
            return data
        conv = data["report"]["conversions"]
        return self.render("marketing/admin/campaign_report.html", **data, charts=_charts(data), conv=conv,
                           kinds=KINDS, funnel_labels=FUNNEL, step_labels=STEP_LABELS, outcome_labels=OUTCOMES, state_labels=STATES,
                           step_kinds=STEP_KINDS, percent=percent, points=points)

    def _csv(self, name: str, header: list[str], rows: Any) -> Response:
        bom = request.args.get("bom") in ("1", "true")
        return Response(stream_with_context(to_csv(header, rows, bom=bom)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    @expose("/<int:campaign_id>/outcomes.csv")
    def outcomes_csv(self, campaign_id: int) -> Any:
        """Each recipient the reader may see: name, variant, status in words, sent time, events, converted."""
        data = self._data(campaign_id)
        if not isinstance(data, dict):
            return data
        ctx, campaign = self.ctx(), data["campaign"]
        yes, no = gettext("Yes"), gettext("No")
        header = [gettext("Customer"), gettext("Variant"), gettext("Status"), gettext("Sent at"),
                  *(str(KINDS[k]) for k in campaign_report.OUTCOME_KINDS), gettext("Converted")]
        rows = ([r["customer"], r["variant"] or "", str(RECIPIENT_STATES.get(r["status"], r["status"])),
                 local_time(r["sent_at"]), *(yes if r[k] else no for k in campaign_report.OUTCOME_KINDS),
                 yes if r["converted"] else no]
                for r in campaign_report.outcomes(ctx, campaign, data["report"]["window_days"]))
        return self._csv(f"campaign-{campaign.id}-outcomes", header, rows)

    @expose("/<int:campaign_id>/aggregates.csv")
    def aggregates_csv(self, campaign_id: int) -> Any:
        data = self._data(campaign_id)
        if not isinstance(data, dict):
            return data
        return self._csv(f"campaign-{data['campaign'].id}-aggregates",
                         [gettext("Section"), gettext("Item"), gettext("Figure")], list(aggregate_rows(data)))
