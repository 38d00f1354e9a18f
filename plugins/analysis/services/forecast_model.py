"""The forecaster and its backtest, on plain lists of monthly values (no database): statsmodels' ETS
(exponential smoothing state-space model) with a prediction interval, the seasonal naive baseline, and
rolling-origin errors (MASE, MAPE) of both, so a reader sees whether the model beats the naive forecast.

Model choice by the length of the history ``n`` (months) and the season ``m`` (12):
* ``n >= 2m + 2``: ETS(A, Ad, A) — additive error, damped additive trend, additive seasonality;
* ``n >= 8``: ETS(A, Ad, N) — no seasonality (too few full years to estimate it);
* shorter: the naive forecast (last value), with an interval from the spread of month-to-month changes.
The interval is the model's own (``get_prediction``), clipped at zero (neither revenue nor orders go below).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

SEASON = 12


@dataclass
class Forecast:
    model: str  # "ets_seasonal", "ets_trend" or "naive"
    mean: list[float]
    lower: list[float]
    upper: list[float]
    level: int  # the interval's coverage, in per cent


@dataclass
class Backtest:
    """Rolling-origin errors of the model and of the seasonal naive baseline on the same origins."""

    origins: int
    horizon: int
    mase: float | None
    naive_mase: float | None
    mape: float | None  # per cent; None when every actual value was zero
    naive_mape: float | None
    errors: list[dict[str, Any]] = field(default_factory=list)  # per origin: month index, model and naive MAE

    @property
    def relative(self) -> float | None:
        """The model's MASE over the baseline's: below 1 means it beats the seasonal naive forecast."""
        if self.mase is None or not self.naive_mase:
            return None
        return self.mase / self.naive_mase


def model_for(n: int, season: int = SEASON) -> str:
    if n >= 2 * season + 2:
        return "ets_seasonal"
    if n >= 8:
        return "ets_trend"
    return "naive"


def seasonal_naive(history: Sequence[float], horizon: int, season: int = SEASON) -> list[float]:
    """The value of the same month a season earlier (the last value when there is less than a season)."""
    n = len(history)
    if n == 0:
        return [0.0] * horizon
    if n < season:
        return [float(history[-1])] * horizon
    return [float(history[n - season + (h % season)]) for h in range(horizon)]


def forecast(history: Sequence[float], horizon: int, *, level: int = 80, season: int = SEASON) -> Forecast:
    """The forecast of the next ``horizon`` months with a ``level`` per cent prediction interval."""
    values = [float(v) for v in history]
    kind = model_for(len(values), season)
    if kind == "naive" or _flat(values):
        last = values[-1] if values else 0.0
        steps = [b - a for a, b in zip(values, values[1:], strict=False)]
        sd = _stdev(steps) if len(steps) >= 2 else abs(last) * 0.5
        z = _z(level)
        return Forecast("naive", [last] * horizon, [max(0.0, last - z * sd * math.sqrt(h + 1)) for h in range(horizon)],
                        [last + z * sd * math.sqrt(h + 1) for h in range(horizon)], level)
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = pd.Series(values, index=pd.period_range("2000-01", periods=len(values), freq="M").to_timestamp())
    series.index.freq = "MS"
    seasonal = "add" if kind == "ets_seasonal" else None
    with warnings.catch_warnings():  # convergence chatter of the optimiser; the backtest says how good it is
        warnings.simplefilter("ignore")
        fit = ETSModel(series, error="add", trend="add", damped_trend=True, seasonal=seasonal,
                       seasonal_periods=season if seasonal else None).fit(disp=False)
        frame = fit.get_prediction(start=len(values), end=len(values) + horizon - 1).summary_frame(
            alpha=1 - level / 100)
    mean = [max(0.0, float(v)) for v in frame["mean"]]
    return Forecast(kind, mean, [max(0.0, float(v)) for v in frame["pi_lower"]],
                    [max(0.0, float(v)) for v in frame["pi_upper"]], level)


def backtest(history: Sequence[float], *, horizon: int = 3, origins: int = 6, season: int = SEASON) -> Backtest | None:
    """Rolling origin: for each of the last ``origins`` cut-offs leaving ``horizon`` months to check, fit on
    the months before it and forecast the next ``horizon``; compare with what happened.

    MASE divides the mean absolute error by the in-sample mean absolute error of the seasonal naive
    forecast (lag ``season``, or 1 with less than two seasons) of the whole history, so the model and the
    baseline share one scale. None when the history is too short for one origin with 8 months to fit on.
    """
    values = [float(v) for v in history]
    n = len(values)
    first = max(8, n - horizon - origins + 1)
    cuts = list(range(first, n - horizon + 1))
    if not cuts:
        return None
    lag = season if n > 2 * season else 1
    scale = _mean([abs(values[t] - values[t - lag]) for t in range(lag, n)])
    model_abs: list[float] = []
    naive_abs: list[float] = []
    model_pct: list[float] = []
    naive_pct: list[float] = []
    per_origin: list[dict[str, Any]] = []
    for cut in cuts:
        train, actual = values[:cut], values[cut:cut + horizon]
        predicted = forecast(train, horizon, season=season).mean
        baseline = seasonal_naive(train, horizon, season)
        m_err = [abs(a - p) for a, p in zip(actual, predicted, strict=True)]
        n_err = [abs(a - p) for a, p in zip(actual, baseline, strict=True)]
        model_abs += m_err
        naive_abs += n_err
        model_pct += [100 * e / abs(a) for e, a in zip(m_err, actual, strict=True) if a]
        naive_pct += [100 * e / abs(a) for e, a in zip(n_err, actual, strict=True) if a]
        per_origin.append({"origin": cut, "model_mae": _mean(m_err), "naive_mae": _mean(n_err)})
    mase = _mean(model_abs) / scale if scale else None
    naive_mase = _mean(naive_abs) / scale if scale else None
    return Backtest(len(cuts), horizon, mase, naive_mase, _mean(model_pct) if model_pct else None,
                    _mean(naive_pct) if naive_pct else None, per_origin)


def _flat(values: list[float]) -> bool:
    return max(values) == min(values)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _stdev(values: Sequence[float]) -> float:
    mu = _mean(values)
    return math.sqrt(sum((v - mu) ** 2 for v in values) / (len(values) - 1))


def _z(level: int) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 200))
