"""BG/NBD and Gamma-Gamma fitted by our own maximum likelihood on the CDNOW sample (2,357
customers of the CD retailer CDNOW, weeks), as shipped in the ``lifetimes`` package's
``datasets/`` folder (we read only its CSV file), against the published parameters.

Sources: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
Pareto/NBD Model", Marketing Science 24(2): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426,
log-likelihood -9582.4. Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value":
p = 6.25, q = 3.74, gamma = 15.44 on the 946 repeat customers. The lifetimes README reproduces
both (a 0.79, alpha 4.41, b 2.43, r 0.24; p 6.25, q 3.74, v 15.45) and lists the conditional
expected average spend of customers 1 and 2 as 24.658619 and 18.911489.
"""
from __future__ import annotations

import csv
import importlib.metadata

import numpy as np
import pytest

from plugins.analysis.services import btyd


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    path = importlib.metadata.distribution("lifetimes").locate_file(
        "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.asarray([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar")}


def test_data_set_is_the_published_cdnow_sample(cdnow: dict[str, np.ndarray]) -> None:
    assert len(cdnow["x"]) == 2357
    assert int((cdnow["x"] > 0).sum()) == 946
    assert cdnow["T"].max() == pytest.approx(38.86)


def test_bgnbd_matches_fader_hardie_lee_2005(cdnow: dict[str, np.ndarray]) -> None:
    fit = btyd.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    # published to 3 decimals: tolerance half a unit in the last published digit, plus 0.1 % rounding slack
    assert fit.r == pytest.approx(0.243, abs=0.0015)
    assert fit.alpha == pytest.approx(4.414, abs=0.006)
    assert fit.a == pytest.approx(0.793, abs=0.0015)
    assert fit.b == pytest.approx(2.426, abs=0.004)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert fit.n == 2357


def test_bgnbd_weights_give_the_same_fit(cdnow: dict[str, np.ndarray]) -> None:
    triples = np.column_stack([cdnow["x"], cdnow["t_x"], cdnow["T"]])
    unique, counts = np.unique(triples, axis=0, return_counts=True)
    assert len(unique) < len(triples)
    fit = btyd.fit_bgnbd(unique[:, 0], unique[:, 1], unique[:, 2], weights=counts)
    assert (fit.r, fit.alpha, fit.a, fit.b) == pytest.approx((0.243, 4.414, 0.793, 2.426), abs=0.006)


def test_gamma_gamma_matches_fader_hardie_2013(cdnow: dict[str, np.ndarray]) -> None:
    fit = btyd.fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert fit.n == 946
    # published to 2 decimals: tolerance 0.01 (p, q) and 0.02 (gamma: 15.44 in the paper, 15.45 in lifetimes)
    assert fit.p == pytest.approx(6.25, abs=0.01)
    assert fit.q == pytest.approx(3.74, abs=0.01)
    assert fit.gamma == pytest.approx(15.44, abs=0.02)
    spend = btyd.expected_spend(fit, cdnow["x"][:2], cdnow["zbar"][:2])
    assert spend == pytest.approx([24.658619, 18.911489], abs=0.001)
    # a customer without repeat purchases gets the population mean E[Z] = p * gamma / (q - 1)
    assert btyd.expected_spend(fit, [0], [0])[0] == pytest.approx(fit.p * fit.gamma / (fit.q - 1))


def test_predictions_behave_as_the_model_says(cdnow: dict[str, np.ndarray]) -> None:
    fit = btyd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    # FHL 2005 figure 1: about 1.2 expected purchases in 39 weeks for a new customer (0.243*39/4.414 without drop-out)
    new = btyd.expected_purchases_new(fit, 39)
    assert 1.0 < new < 0.243 * 39 / 4.414
    x, t_x, T = cdnow["x"], cdnow["t_x"], cdnow["T"]
    alive = btyd.probability_alive(fit, x, t_x, T)
    assert np.all(alive[x == 0] == 1.0)  # no repeat purchase: no chance to have dropped out yet
    assert np.all((alive > 0) & (alive <= 1))
    # same frequency, a more recent last purchase -> more likely alive and more purchases expected
    early, late = btyd.probability_alive(fit, [5, 5], [10, 35], [38.86, 38.86])
    assert late > early
    e = btyd.expected_purchases(fit, 39, [5, 5], [10, 35], [38.86, 38.86])
    assert e[1] > e[0]
    # more time, more purchases; none in no time
    assert np.all(btyd.expected_purchases(fit, 52, x, t_x, T) >= btyd.expected_purchases(fit, 26, x, t_x, T))
    assert np.all(btyd.expected_purchases(fit, 0, x, t_x, T) == 0)


def test_clv_discounts_future_value(cdnow: dict[str, np.ndarray]) -> None:
    bg = btyd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    gg = btyd.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    args = (cdnow["x"][:50], cdnow["t_x"][:50], cdnow["T"][:50], cdnow["zbar"][:50])
    plain = btyd.clv(bg, gg, *args, periods=12, period_length=30 / 7, discount_rate=0.0)
    discounted = btyd.clv(bg, gg, *args, periods=12, period_length=30 / 7, discount_rate=0.01)
    undiscounted_total = btyd.expected_purchases(bg, 12 * 30 / 7, *args[:3]) * btyd.expected_spend(gg, args[0], args[3])
    assert plain == pytest.approx(undiscounted_total, rel=1e-9)
    assert np.all(discounted < plain) and np.all(discounted > plain / 1.01 ** 12)


def test_penalised_fit_reports_the_models_own_log_likelihood(cdnow: dict[str, np.ndarray]) -> None:
    """A penalty moves the parameters (so a penalised fit is worse on the data), and the reported
    log-likelihood is the model's at those parameters, without the penalty term."""
    fit = btyd.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"], penalizer=0.001)
    own = btyd.bgnbd_log_likelihood((fit.r, fit.alpha, fit.a, fit.b), cdnow["x"], cdnow["t_x"], cdnow["T"]).sum()
    assert fit.log_likelihood == pytest.approx(own, rel=1e-12)
    assert fit.log_likelihood < -9582.4 and fit.r < 0.23 and fit.penalizer == 0.001 and fit.converged
    gg = btyd.fit_gamma_gamma(cdnow["x"], cdnow["zbar"], penalizer=0.001)
    keep = cdnow["x"] > 0
    own = btyd.gamma_gamma_log_likelihood((gg.p, gg.q, gg.gamma), cdnow["x"][keep], cdnow["zbar"][keep]).sum()
    assert gg.log_likelihood == pytest.approx(own, rel=1e-12)


def test_a_likelihood_without_a_finite_maximum_is_not_converged() -> None:
    """Every repeat customer spends exactly the same: Gamma-Gamma's q and gamma run off to infinity."""
    fit = btyd.fit_gamma_gamma([1, 2, 3, 1, 2], [50.0] * 5)
    assert not fit.converged
    assert btyd.fit_gamma_gamma([1, 2, 3, 1, 2], [50.0] * 5, penalizer=0.001).converged
    # no finite mean spend (q <= 1): NaN, never a negative amount
    spend = btyd.expected_spend(btyd.GammaGammaParams(p=0.4, q=0.6, gamma=10.0), [0, 1, 3], [0, 20.0, 30.0])
    assert np.isnan(spend[0]) and np.isnan(spend[1]) and spend[2] > 0
