"""Churn / VIP propensity: a scikit-learn logistic regression on the loyalty features, checked by a
time split (features as of a past cutoff, label = bought in the window after it; trained on the
window before, scored on the next, AUC reported), then scores every customer as of the run date."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from crmcore.errors import ValidationError
from crmcore.events import audit
from crmcore.i18n import _
from crmcore.services.unit import unit_of_work
from crmcore.runtime import ServiceContext
from plugins.sales.models import Order
from plugins.sales.services.money import base_currency

from ..models import ChurnScore, ModelFit
from .checks import localized, missing_rates, stale_history, warning
from .loyalty import customer_features
from .sqlfuncs import sold_orders

if TYPE_CHECKING:  # numpy and scikit-learn load when the model is trained, not with the web app or the CLI
    import numpy as np

CHANCE_AUC = 0.6  # below this the model ranks customers little better than a coin (0.5)
WEAK_AUC = 0.7  # below this the ranking is weak: usable with care, said so in words
SMALL_CLASS = 30  # fewer buyers or non-buyers than this in the held-out window: the AUC is noise
FEATURES = ("recency_days", "frequency", "monetary", "tenure_days", "avg_gap_days", "discount_share")


def feature_matrix(ctx: ServiceContext, as_of: dt.date, currency: str) -> tuple[np.ndarray, np.ndarray]:
    """(customer ids, feature matrix) of every customer who bought by ``as_of``; logs for skewed counts."""
    import numpy as np

    f = customer_features(ctx, as_of, currency)
    rows = ctx.session.execute(select(f.c.customer_id, *[f.c[name] for name in FEATURES]).order_by(f.c.customer_id)).all()
    ids = np.asarray([r[0] for r in rows], dtype=np.int64)
    raw = np.asarray([[float(v) if v is not None else np.nan for v in r[1:]] for r in rows], dtype=float).reshape(len(rows), len(FEATURES))
    gap = raw[:, 4]
    raw[:, 4] = np.where(np.isnan(gap), raw[:, 3], gap)  # one purchase: the gap so far is the tenure
    x = np.column_stack([np.log1p(raw[:, 0]), np.log1p(raw[:, 1]), np.log1p(np.maximum(raw[:, 2], 0)),
                         np.log1p(raw[:, 3]), np.log1p(raw[:, 4]), raw[:, 5]])
    return ids, x


def buyers_between(ctx: ServiceContext, after: dt.date, until: dt.date) -> set[int]:
    """Customers with a sold order dated after ``after`` up to ``until``."""
    return set(ctx.session.scalars(select(Order.customer_id).where(sold_orders(until, since=after)).distinct()))


def _labelled(ctx: ServiceContext, cutoff: dt.date, window: int, currency: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import numpy as np

    ids, x = feature_matrix(ctx, cutoff, currency)
    bought = buyers_between(ctx, cutoff, cutoff + dt.timedelta(days=window))
    y = np.asarray([1 if int(i) in bought else 0 for i in ids], dtype=int)
    return ids, x, y


def caveats(auc: float, test_customers: int, test_buyers: int) -> list[dict[str, Any]]:
    """Warnings that must travel with the churn scores: an AUC at or below chance, or too few
    customers of either class in the held-out window to trust it."""
    out = []
    if auc < 0.5:
        out.append(warning("auc_below_chance", auc=auc))
    elif auc < CHANCE_AUC:
        out.append(warning("auc_near_chance", auc=auc))
    elif auc < WEAK_AUC:
        out.append(warning("auc_weak", auc=auc))
    if min(test_buyers, test_customers - test_buyers) < SMALL_CLASS:
        out.append(warning("small_data", customers=test_customers, buyers=test_buyers, min=SMALL_CLASS))
    return out


def _model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced"))


def run_churn(ctx: ServiceContext, as_of: dt.date | None = None, *, window_days: int = 90,
              currency: str | None = None) -> dict[str, Any]:
    """Train on (features at as_of - 2w, bought in the next w), evaluate on (features at as_of - w,
    bought up to as_of), store the AUC; refit on the later window and score everyone as of ``as_of``.
    ``warnings`` carry the caveats (AUC near or below chance, too little data) with the scores."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    ctx.require("analysis.run")
    as_of = as_of or dt.datetime.now(dt.timezone.utc).date()
    currency = (currency or base_currency(ctx)).upper()
    if window_days < 7:
        raise ValidationError(_("The window must be at least 7 days."), errors={"window_days": [str(_("At least 7."))]})
    train_cut = as_of - dt.timedelta(days=2 * window_days)
    test_cut = as_of - dt.timedelta(days=window_days)
    _ids, x_train, y_train = _labelled(ctx, train_cut, window_days, currency)
    _ids, x_test, y_test = _labelled(ctx, test_cut, window_days, currency)
    for y, when in ((y_train, train_cut), (y_test, test_cut)):
        if len(y) < 10 or y.min() == y.max():
            raise ValidationError(_("Not enough history to train the churn model."), errors={"orders": [str(_(
                "Customers who bought by %(date)s must include some who bought again and some who did not.",
                date=when.isoformat()))]})
    model = _model().fit(x_train, y_train)
    auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    final = _model().fit(x_test, y_test)
    ids, x_now = feature_matrix(ctx, as_of, currency)
    prob = final.predict_proba(x_now)[:, 1] if len(ids) else np.zeros(0)
    coefficients = dict(zip(FEATURES, map(float, final[-1].coef_[0]), strict=True))
    warnings = (missing_rates(ctx, as_of, currency) + stale_history(ctx, as_of)
                + caveats(auc, int(len(y_test)), int(y_test.sum())))
    with unit_of_work(ctx):
        ctx.session.execute(delete(ChurnScore).where(ChurnScore.run_date == as_of))
        rows = [{"run_date": as_of, "customer_id": int(c), "purchase_probability": float(p), "churn_score": float(1 - p)}
                for c, p in zip(ids, prob, strict=True)]
        for i in range(0, len(rows), 10_000):
            ctx.session.execute(insert(ChurnScore), rows[i:i + 10_000])
        ctx.session.execute(delete(ModelFit).where(ModelFit.run_date == as_of, ModelFit.kind == "churn"))
        metrics = {"auc": auc, "train_cutoff": train_cut.isoformat(), "test_cutoff": test_cut.isoformat(),
                   "window_days": window_days, "train_customers": int(len(y_train)),
                   "test_customers": int(len(y_test)), "test_buy_rate": float(y_test.mean()), "warnings": warnings}
        ctx.session.add(ModelFit(kind="churn", run_date=as_of, params={"coefficients": coefficients}, metrics=metrics))
        audit(ctx, "computed", "analysis_churn", as_of.isoformat(),
              data={"customers": len(rows), "auc": auc, "warnings": [w["code"] for w in warnings]})
    return {"run_date": as_of, "customers": len(rows), "auc": round(auc, 4), **metrics, "coefficients": coefficients}


def latest_model(ctx: ServiceContext, run_date: dt.date | None = None) -> dict[str, Any] | None:
    """The churn model behind the latest (or ``run_date``'s) scores: its AUC and the caveats that go
    with its scores (recomputed from the stored metrics, so older runs get them too)."""
    stmt = select(ModelFit).where(ModelFit.kind == "churn")
    if run_date is not None:
        stmt = stmt.where(ModelFit.run_date == run_date)
    fit = ctx.session.scalar(stmt.order_by(ModelFit.run_date.desc(), ModelFit.id.desc()).limit(1))
    if fit is None:
        return None
    m = fit.metrics or {}
    auc, tested = float(m.get("auc", 0.5)), int(m.get("test_customers", 0))
    buyers = int(round(float(m.get("test_buy_rate", 0)) * tested))
    stored = [w for w in m.get("warnings", []) if w.get("code") == "stale_history"]  # not global counts
    return {"run_date": fit.run_date, "auc": round(auc, 4), "test_customers": tested, "test_buyers": buyers,
            "reliable": auc >= CHANCE_AUC and min(buyers, tested - buyers) >= SMALL_CLASS,
            "warnings": caveats(auc, tested, buyers) + localized(stored)}
