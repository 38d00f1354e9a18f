"""/api/v1/analysis: run the analyses, read segments, CLV, churn, cohorts, loyalty, rules, the 7P
profile and tag rules, and download CSV. Reads are limited to the customers the caller may see."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, request, stream_with_context

from crmcore.api import current_ctx
from crmcore.api.blueprint import Blueprint
from crmcore.api.http import json_body
from crmcore.errors import NotFound, ValidationError
from crmcore.events import jsonable
from crmcore.i18n import _
from crmcore.schemas.common import MAX_ID, page_size_max

from ..services import basket, checks, churn, clv, distribution, export, forecast, loyalty, profile, rfm, tags
from ..services.results import customer_rows, scoped_ids
from ..schemas import TagRuleSchema
from .schemas import ChurnPageSchema, ClvPageSchema

blp = Blueprint("analysis", __name__, url_prefix="/api/v1/analysis", description="Analysis: RFM, CLV, churn, cohorts")


def _date(name: str) -> dt.date | None:
    raw = request.args.get(name) or (request.get_json(silent=True) or {}).get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(str(raw))
    except ValueError:
        raise ValidationError(_("The request is not valid; see 'errors' for each field."),
                              errors={name: [str(_("Use a date like 2026-03-31."))]}) from None


def _int(name: str, default: int, low: int = 1, high: int = 10_000) -> int:
    raw = request.args.get(name)
    if raw is None:
        raw = (request.get_json(silent=True) or {}).get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError, OverflowError):  # text, a list, infinity
        value = low - 1
    if not low <= value <= high:
        raise ValidationError(_("The request is not valid; see 'errors' for each field."),
                              errors={name: [str(_("Use a whole number from %(low)s to %(high)s.", low=low, high=high))]})
    return value


def _optional(name: str, low: float, high: float, whole: bool = False) -> Any:
    """A number from the query or the JSON body, or None when absent; a 422 naming it when not a number in range."""
    raw = request.args.get(name)
    if raw is None:
        raw = _body().get(name)
    if raw is None:
        return None
    try:
        value = int(raw) if whole else float(raw)
    except (TypeError, ValueError, OverflowError):
        value = None
    if isinstance(raw, bool) or value is None or value != value or not low <= value <= high:  # value != value: NaN
        raise ValidationError(_("The request is not valid; see 'errors' for each field."),
                              errors={name: [str(_("Use a number from %(low)s to %(high)s.", low=low, high=high))]})
    return value


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _rows(table: str) -> dict[str, Any]:
    ctx = current_ctx()
    page, size = _int("page", 1), _int("page_size", 50, 1, page_size_max())
    run_date, rows, total = customer_rows(ctx, table, run_date=_date("run_date"), segment=request.args.get("segment"),
                                          page=page, page_size=size)
    return {"run_date": run_date, "total": total, "page": page, "page_size": size, "items": rows}


def _page(table: str) -> Any:
    return jsonable(_rows(table))


@blp.route("/rfm/run", methods=["POST"])
def rfm_run() -> Any:
    """Compute RFM scores and segments for every customer (body: as_of, bins, *_edges, currency)"""
    ctx = current_ctx()
    body = _body()
    config = rfm.RfmConfig.from_settings(ctx, **{k: body.get(k) for k in ("bins", "recency_edges", "frequency_edges",
                                                                       "monetary_edges")})
    return jsonable(rfm.run_rfm(ctx, _date("as_of"), config=config, currency=body.get("currency"))), 201


@blp.route("/rfm/segments")
def rfm_segments() -> Any:
    """Customers and value per segment on the latest (or ``run_date``) run"""
    ctx = current_ctx()
    ctx.require("analysis.read")
    return jsonable({"items": rfm.segment_sizes(ctx, _date("run_date"), scoped_ids(ctx))})


@blp.route("/rfm/customers")
def rfm_customers() -> Any:
    """Customers' RFM values, scores and segment (filter ``segment``), highest value first"""
    return _page("rfm")


@blp.route("/clv/run", methods=["POST"])
def clv_run() -> Any:
    """Fit BG/NBD and Gamma-Gamma and store every customer's predictions

    Body: ``as_of``, ``horizon_days``, ``months``, ``monthly_discount``, ``penalizer`` (default 0: plain
    maximum likelihood), ``currency``. ``warnings`` say what was left out, refitted or stale.
    """
    ctx = current_ctx()
    body = _body()
    currency = body.get("currency")
    if currency is not None and not (isinstance(currency, str) and currency.isascii() and currency.isalpha()
                                     and len(currency) == 3):
        raise ValidationError(_("The request is not valid; see 'errors' for each field."),
                              errors={"currency": [str(_("Use a three-letter code."))]})
    result = clv.run_clv(ctx, _date("as_of"), currency=currency, horizon_days=body.get("horizon_days"),
                         months=body.get("months"), monthly_discount=body.get("monthly_discount"),
                         penalizer=body.get("penalizer"))
    return jsonable(result), 201


@blp.route("/clv/customers")
@blp.response(200, ClvPageSchema)
def clv_customers() -> Any:
    """Customers' expected purchases, P(alive), expected spend and CLV, highest CLV first"""
    return _rows("clv")


@blp.route("/clv/distribution")
def clv_distribution() -> Any:
    """Customers per CLV decile"""
    ctx = current_ctx()
    ctx.require("analysis.read")
    return jsonable({"items": clv.clv_distribution(ctx, _date("run_date"), customer_ids=scoped_ids(ctx))})


@blp.route("/churn/run", methods=["POST"])
def churn_run() -> Any:
    """Train the propensity model by time split (AUC reported) and score every customer"""
    ctx = current_ctx()
    return jsonable(churn.run_churn(ctx, _date("as_of"), window_days=_int("window_days", 90, 7, 3650),
                                    currency=_body().get("currency"))), 201


@blp.route("/churn/customers")
@blp.response(200, ChurnPageSchema)
def churn_customers() -> Any:
    """Customers' churn score (1 - probability to buy in the next window), riskiest first

    ``model`` gives the AUC and the caveats; ``model.reliable`` is false when the AUC is near or below
    chance (under 0.6) or the data too small: do not act on such scores.
    """
    page = _rows("churn")
    return {**page, "model": churn.latest_model(current_ctx(), page["run_date"]) if page["run_date"] else None}


@blp.route("/cohorts")
def cohorts() -> Any:
    """Retention by first-purchase month for the last ``months`` months"""
    ctx = current_ctx()
    ctx.require("analysis.read")
    as_of = _date("as_of") or dt.datetime.now(dt.timezone.utc).date()
    ids = scoped_ids(ctx)
    return jsonable({"as_of": as_of, "items": loyalty.cohort_table(ctx, as_of, _int("months", 12, 1, 120), ids),
                     "warnings": checks.stale_history(ctx, as_of, ids)})


@blp.route("/loyalty")
def loyalty_summary() -> Any:
    """Repeat-purchase rate, mean days between purchases, share of order lines on discount"""
    ctx = current_ctx()
    ctx.require("analysis.read")
    as_of = _date("as_of") or dt.datetime.now(dt.timezone.utc).date()
    return jsonable(loyalty.loyalty_summary(ctx, as_of, scoped_ids(ctx)))


@blp.route("/basket/run", methods=["POST"])
def basket_run() -> Any:
    """Compute association rules from the order lines of the last ``days`` days"""
    ctx = current_ctx()
    return jsonable(basket.run_basket(ctx, _date("as_of"), days=_int("days", 365, 1, 3650),
                                      min_pairs=_int("min_pairs", 2, 1, 10**6),
                                      min_confidence=_optional("min_confidence", 0, 1) or 0.05)), 201


@blp.route("/basket/rules")
def basket_rules() -> Any:
    """The strongest association rules, lift above 1 (optionally for one antecedent ``product_id``)"""
    ctx = current_ctx()
    ctx.require("analysis.read")
    product_id = _optional("product_id", 1, MAX_ID, whole=True)
    return jsonable({"items": basket.top_rules(ctx, _date("run_date"), _int("limit", 20, 1, 1000), product_id)})


@blp.route("/distribution")
def customer_distribution() -> Any:
    """Customers, buyers, revenue and growth by ``by`` (province, city, channel, segment, owner) over the
    last ``months`` (1-60, default 12) against the months before, ranked by customers"""
    ctx = current_ctx()
    by = request.args.get("by", "province")
    return jsonable(distribution.distribution(ctx, by, as_of=_date("as_of"), months=_int("months", 12, 1, 60)))


@blp.route("/forecast/run", methods=["POST"])
def forecast_run() -> Any:
    """Forecast the next months' revenue, orders and top categories with backtests, and weigh the pipeline

    Body: ``as_of`` (history up to that month), ``horizon`` (months, 1-24, default 3). Stored for the
    forecast page when the caller sees every customer.
    """
    ctx = current_ctx()
    ctx.require("analysis.run")
    return jsonable(forecast.run_forecast(ctx, _date("as_of"), horizon=_int("horizon", 3, 1, 24))), 201


@blp.route("/forecast")
def forecast_latest() -> Any:
    """The latest stored forecast (computed now over the caller's customers when their scope is limited)"""
    ctx = current_ctx()
    result = forecast.latest(ctx)
    if result is None:
        raise NotFound(_("No forecast yet: run one with POST /api/v1/analysis/forecast/run."))
    return jsonable(result)


@blp.route("/customers/<int:customer_id>/profile")
def customer_profile(customer_id: int) -> Any:
    """The 7P profile of a customer you may see; amounts in ``currency`` (default: the base currency)"""
    return jsonable(profile.profile(current_ctx(), customer_id, request.args.get("currency") or None))


def _rule(rule: Any) -> dict[str, Any]:
    return jsonable({"id": rule.id, "name": rule.name, "tag": rule.tag, "conditions": rule.conditions,
                     "active": rule.active, "last_applied_at": rule.last_applied_at, "last_count": rule.last_count})


@blp.route("/tag-rules")
def tag_rules() -> Any:
    """Customer tag rules"""
    return {"items": [_rule(r) for r in tags.list_rules(current_ctx())]}


@blp.route("/tag-rules", methods=["POST"])
@json_body(blp, TagRuleSchema)
def create_tag_rule(data: dict[str, Any]) -> Any:
    """Create a tag rule: name, tag, conditions (JSON; see docs/analysis.md)"""
    return _rule(tags.create_rule(current_ctx(), data)), 201


@blp.route("/tag-rules/<int:rule_id>", methods=["PATCH"])
@json_body(blp, TagRuleSchema)
def update_tag_rule(data: dict[str, Any], rule_id: int) -> Any:
    """Change a tag rule"""
    return _rule(tags.update_rule(current_ctx(), rule_id, data))


@blp.route("/tag-rules/<int:rule_id>", methods=["DELETE"])
def delete_tag_rule(rule_id: int) -> Any:
    """Delete a tag rule (the tag stays on customers until removed by hand)"""
    tags.delete_rule(current_ctx(), rule_id)
    return "", 204


@blp.route("/tag-rules/apply", methods=["POST"])
def apply_tag_rules() -> Any:
    """Refresh every active rule's tag now"""
    return {"applied": tags.apply_rules(current_ctx())}


@blp.route("/export/<name>.csv")
def export_csv(name: str) -> Any:
    """Download a table as CSV: rfm, clv, churn, segments, cohorts, rules (``bom=1`` for Excel)"""
    ctx = current_ctx()
    header, rows = export.table(ctx, name, _date("as_of"))
    bom = request.args.get("bom") in ("1", "true", "yes")
    return Response(stream_with_context(export.to_csv(header, rows, bom=bom)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="analysis_{name}.csv"'})
