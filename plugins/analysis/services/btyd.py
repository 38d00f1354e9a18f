"""BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader & Hardie 2013) fitted by maximum
likelihood with numpy/scipy, and the per-customer predictions built on them. Pure math: arrays in,
arrays out; the database side is :mod:`plugins.analysis.services.clv`.

The fits are plain maximum likelihood unless a ``penalizer`` (L2 on the parameters) is given; the
reported log-likelihood is always the model's own, without the penalty, and ``converged`` says
whether the optimiser found a finite maximum."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1


@dataclass(frozen=True)
class BgNbdParams:
    """Purchase rate ~ Gamma(r, alpha); drop-out probability after each purchase ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n: int = 0
    penalizer: float = 0.0
    converged: bool = True


@dataclass(frozen=True)
class GammaGammaParams:
    """Spend per transaction ~ Gamma(p, nu); nu ~ Gamma(q, gamma) across customers."""

    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    n: int = 0
    penalizer: float = 0.0
    converged: bool = True


def _arrays(*values: object) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def bgnbd_log_likelihood(params: tuple[float, float, float, float], x: np.ndarray, t_x: np.ndarray,
                         T: np.ndarray) -> np.ndarray:
    """Each customer's log-likelihood (FHL 2005, eq. 6): x repeat purchases, the last at t_x, observed for T."""
    r, alpha, a, b = params
    x, t_x, T = _arrays(x, t_x, T)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
                  -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


LOG_CLIP = 30.0  # log-parameters are clipped here inside the objectives
RUNAWAY = 18.0  # a log-parameter past this (a parameter over 6e7 or under 1.5e-8) is running off to infinity
SHAPE_LIMIT = 1e5  # a shape parameter (no unit: r, a, b, p, q) this large means the maximum lies at infinity


def _fit(neg_ll: object, start: np.ndarray) -> tuple[np.ndarray, bool]:
    """Minimise over log-parameters (so every parameter stays positive); Nelder-Mead then a polish.
    Returns the parameters and whether the optimum is a finite, interior maximum of the likelihood."""
    res = minimize(neg_ll, start, method="Nelder-Mead",
                   options={"maxiter": 4000, "maxfev": 8000, "xatol": 1e-7, "fatol": 1e-9})
    polish = minimize(neg_ll, res.x, method="L-BFGS-B")
    best = polish if polish.success and polish.fun <= res.fun else res
    converged = bool(np.isfinite(best.fun) and best.fun < 1e99 and np.all(np.abs(best.x) < RUNAWAY)
                     and (res.success or polish.success))
    return np.exp(np.clip(best.x, -LOG_CLIP, LOG_CLIP)), converged


def fit_bgnbd(x: object, t_x: object, T: object, weights: object | None = None,
              penalizer: float = 0.0) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters; ``weights`` counts identical (x, t_x, T) rows."""
    x, t_x, T = _arrays(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.size == 0 or w.sum() == 0:
        raise ValueError("no customers to fit")
    total = w.sum()

    def neg_ll(log_params: np.ndarray) -> float:
        params = np.exp(np.clip(log_params, -LOG_CLIP, LOG_CLIP))
        ll = bgnbd_log_likelihood(tuple(params), x, t_x, T)
        value = -(w * ll).sum() / total + penalizer * (params ** 2).sum()
        return float(value) if np.isfinite(value) else 1e100

    best, converged = _fit(neg_ll, np.log([0.5, max(float(np.average(T, weights=w)), 1e-3) / 4, 1.0, 1.0]))
    ll = float((w * bgnbd_log_likelihood(tuple(best), x, t_x, T)).sum())  # without the penalty
    shapes_ok = max(best[0], best[2], best[3]) < SHAPE_LIMIT
    return BgNbdParams(*map(float, best), log_likelihood=ll, n=int(total), penalizer=float(penalizer),
                       converged=bool(converged and shapes_ok and np.isfinite(ll)))


def gamma_gamma_log_likelihood(params: tuple[float, float, float], x: np.ndarray, zbar: np.ndarray) -> np.ndarray:
    """Each repeat customer's log-likelihood of their mean spend ``zbar`` over ``x`` transactions."""
    p, q, g = params
    x, zbar = _arrays(x, zbar)
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1) * np.log(zbar)
            + px * np.log(x) - (px + q) * np.log(g + x * zbar))


def fit_gamma_gamma(x: object, zbar: object, weights: object | None = None,
                    penalizer: float = 0.0) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from customers with ``x > 0`` and ``zbar > 0``."""
    x, zbar = _arrays(x, zbar)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    keep = (x > 0) & (zbar > 0)
    x, zbar, w = x[keep], zbar[keep], w[keep]
    if x.size == 0:
        raise ValueError("no repeat customers with spend to fit")
    total = w.sum()

    def neg_ll(log_params: np.ndarray) -> float:
        params = np.exp(np.clip(log_params, -LOG_CLIP, LOG_CLIP))
        value = -(w * gamma_gamma_log_likelihood(tuple(params), x, zbar)).sum() / total
        value += penalizer * (params ** 2).sum()
        return float(value) if np.isfinite(value) else 1e100

    best, converged = _fit(neg_ll, np.log([1.0, 1.0, max(float(np.average(zbar, weights=w)), 1e-3)]))
    ll = float((w * gamma_gamma_log_likelihood(tuple(best), x, zbar)).sum())  # without the penalty
    shapes_ok = max(best[0], best[1]) < SHAPE_LIMIT
    return GammaGammaParams(*map(float, best), log_likelihood=ll, n=int(total), penalizer=float(penalizer),
                            converged=bool(converged and shapes_ok and np.isfinite(ll)))


def _alive_odds(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """``a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)`` for x > 0, else 0 (log-space)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    log_odds = (np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(repeat, np.exp(np.minimum(log_odds, 700)), 0.0)


def probability_alive(params: BgNbdParams, x: object, t_x: object, T: object) -> np.ndarray:
    """P(the customer is still active at T) given their history (FHL 2005, eq. 11)."""
    x, t_x, T = _arrays(x, t_x, T)
    return 1.0 / (1.0 + _alive_odds(params, x, t_x, T))


def expected_purchases(params: BgNbdParams, t: float, x: object, t_x: object, T: object) -> np.ndarray:
    """Expected purchases in the next ``t`` time units given the history (FHL 2005, eq. 10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, T = _arrays(x, t_x, T)
    if t <= 0:
        return np.zeros_like(x)
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    return head * tail / (1.0 + _alive_odds(params, x, t_x, T))


def expected_purchases_new(params: BgNbdParams, t: float) -> float:
    """Expected purchases of a new customer in a period of length ``t`` (FHL 2005, eq. 9)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + t)
    return float((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z)))


def expected_spend(params: GammaGammaParams, x: object, zbar: object) -> np.ndarray:
    """E[mean spend | x, zbar] (Fader & Hardie 2013, eq. 5); the population mean when x = 0.
    NaN where the model has no finite mean (``p * x + q <= 1``, e.g. every x = 0 when q <= 1)."""
    p, q, g = params.p, params.q, params.gamma
    x, zbar = _arrays(x, zbar)
    zbar = np.where(x > 0, zbar, 0.0)
    denominator = p * x + q - 1
    return np.where(denominator > 0, (g + x * zbar) * p / np.where(denominator > 0, denominator, 1.0), np.nan)


def clv(bg: BgNbdParams, gg: GammaGammaParams, x: object, t_x: object, T: object, zbar: object, *,
        periods: int, period_length: float, discount_rate: float, spend: np.ndarray | None = None) -> np.ndarray:
    """Discounted value of the next ``periods`` periods: sum_i (E[X(i)] - E[X(i-1)]) * spend / (1 + d)^i.

    ``period_length`` is in the model's time unit (a month of days in weeks is 30/7);
    ``discount_rate`` is per period (0.01 a month is about 12.7 % a year); ``spend`` overrides the
    expected spend per purchase.
    """
    spend = expected_spend(gg, x, zbar) if spend is None else np.asarray(spend, dtype=float)
    total = np.zeros_like(spend)
    previous = np.zeros_like(spend)
    for i in range(1, periods + 1):
        now = expected_purchases(bg, i * period_length, x, t_x, T)
        total += (now - previous) * spend / (1 + discount_rate) ** i
        previous = now
    return total
