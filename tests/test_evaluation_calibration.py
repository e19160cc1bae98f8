"""Calibration: pseudo-observations, slope / intercept, ICI smoother, decile table."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _helpers_evaluation import simulate, tied, true_cif  # noqa: E402

from relapse_ml.evaluation import (  # noqa: E402
    calibration_slope_intercept,
    calibration_table,
    integrated_calibration_index,
    leave_one_out_incidence,
    pseudo_observations,
)
from relapse_ml.evaluation.calibration import cloglog, local_linear_smooth  # noqa: E402
from relapse_ml.models.aalen_johansen import aalen_johansen  # noqa: E402

TAU = 365.0


def _sksurv_cif(time, event, tau, cause):
    from sksurv.nonparametric import cumulative_incidence_competing_risks

    grid, cif = cumulative_incidence_competing_risks(event, time)
    idx = np.searchsorted(grid, tau, side="right") - 1
    return float(cif[cause][idx]) if idx >= 0 else 0.0


@pytest.mark.parametrize("seed", range(6))
def test_leave_one_out_incidence_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 50))
    t = rng.integers(1, 12, n).astype(float)
    e = rng.integers(0, 3, n)
    tau = float(rng.choice([2.0, 6.5, 11.0, 30.0]))
    for cause in (1, 2):
        brute = [
            _sksurv_cif(np.delete(t, i), np.delete(e, i), tau, cause) if n > 1 else 0.0
            for i in range(n)
        ]
        np.testing.assert_allclose(leave_one_out_incidence(t, e, tau, cause), brute, atol=1e-12)
    full = _sksurv_cif(t, e, tau, 1)
    theta = pseudo_observations(t, e, tau)
    expected = n * full - (n - 1) * leave_one_out_incidence(t, e, tau)
    np.testing.assert_allclose(theta, expected, atol=1e-10)


def _fixed_sample(seed: int, n: int = 3000):
    x, t, e = simulate(n, seed=seed)
    return x, t, e, true_cif(x, [TAU])[:, 0]


def _rescale(p, slope, shift=0.0):
    """A prediction whose cloglog is ``slope`` times the true one plus ``shift``."""
    return -np.expm1(-np.exp(slope * cloglog(p) + shift))


@pytest.mark.parametrize("seed", [0, 1])
def test_calibration_slope_of_true_and_miscalibrated_risks(seed):
    x, t, e, p = _fixed_sample(seed)
    truth = calibration_slope_intercept(t, e, p, TAU)
    assert truth["slope"] == pytest.approx(1.0, abs=0.15)
    assert truth["intercept"] == pytest.approx(0.0, abs=0.15)
    assert truth["intercept_in_the_large"] == pytest.approx(0.0, abs=0.1)
    # over-dispersed (too extreme) predictions: the true slope is 1/2
    over = calibration_slope_intercept(t, e, _rescale(p, 2.0, 1.2), TAU)
    assert over["slope"] == pytest.approx(0.5, abs=0.1)
    assert over["slope"] < 0.75
    # under-dispersed: slope 2; systematically too low: positive calibration-in-the-large
    assert calibration_slope_intercept(t, e, _rescale(p, 0.5), TAU)["slope"] > 1.5
    low = calibration_slope_intercept(t, e, _rescale(p, 1.0, -0.7), TAU)
    assert low["intercept_in_the_large"] == pytest.approx(0.7, abs=0.12)


def test_calibration_glm_is_the_quasi_likelihood_maximum():
    from scipy.optimize import minimize

    x, t, e, p = _fixed_sample(3, n=800)
    q = _rescale(p, 1.6, 0.3)
    theta = pseudo_observations(t, e, TAU)
    z = cloglog(q)

    def negative_quasi_loglik(beta):
        mu = np.clip(-np.expm1(-np.exp(beta[0] + beta[1] * z)), 1e-12, 1 - 1e-12)
        return -np.sum(theta * np.log(mu) + (1 - theta) * np.log1p(-mu))

    best = minimize(
        negative_quasi_loglik,
        x0=[0.0, 1.0],
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5000},
    )
    got = calibration_slope_intercept(t, e, q, TAU, pseudo=theta)
    assert got["intercept"] == pytest.approx(best.x[0], abs=1e-4)
    assert got["slope"] == pytest.approx(best.x[1], abs=1e-4)


def test_local_linear_smooth_reproduces_lines_and_weighted_least_squares():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    at = np.linspace(-1.5, 1.5, 7)
    np.testing.assert_allclose(local_linear_smooth(x, 2.0 - 3.0 * x, at), 2.0 - 3.0 * at)
    y = np.sin(2 * x) + rng.normal(scale=0.3, size=x.size)
    got = local_linear_smooth(x, y, at, span=0.5)
    k = int(np.ceil(0.5 * x.size))
    for a, value in zip(at, got, strict=True):
        d = np.abs(x - a)
        radius = np.sort(d)[k - 1]
        w = np.clip(1 - (d / radius) ** 3, 0, None) ** 3
        design = np.c_[np.ones_like(x), x - a]
        beta = np.linalg.lstsq(design * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
        assert value == pytest.approx(beta[0], abs=1e-4)


def test_ici_small_for_true_risks_large_for_miscalibrated():
    x, t, e, p = _fixed_sample(4)
    good = integrated_calibration_index(t, e, p, TAU)
    bad = integrated_calibration_index(t, e, _rescale(p, 2.0, 1.2), TAU)
    assert good["ici"] < 0.03
    assert bad["ici"] > 0.06
    assert good["e50"] <= good["e90"]


def test_calibration_table_groups_and_observed_incidence():
    x, t, e = simulate(1000, seed=8)
    t = tied(t)
    p = true_cif(x, [TAU])[:, 0]
    table = calibration_table(t, e, p, TAU, n_groups=10)
    assert len(table) == 10
    assert table["n"].sum() == t.size
    assert table["mean_predicted"].is_monotonic_increasing
    groups = np.argsort(np.argsort(p)) * 10 // t.size  # deciles (no ties in p)
    for g, row in table.iterrows():
        m = groups == g
        assert row["n"] == m.sum()
        assert row["observed"] == pytest.approx(_sksurv_cif(t[m], e[m], TAU, 1), abs=1e-12)
        assert row["observed_lower"] <= row["observed"] <= row["observed_upper"]
    # observed rises with predicted for true risks
    assert np.corrcoef(table["mean_predicted"], table["observed"])[0, 1] > 0.9
    # tied predictions are never split: a constant prediction makes one group
    flat = calibration_table(t, e, np.full(t.size, 0.3), TAU)
    assert len(flat) == 1
    assert flat["observed"].iloc[0] == pytest.approx(aalen_johansen(t, e, [TAU])[0])


@pytest.mark.parametrize("decimals", [0, 1, 3])
def test_windowed_smooth_equals_direct_definition_with_ties(decimals):
    from relapse_ml.evaluation.calibration import _local_linear_smooth_reference

    rng = np.random.default_rng(decimals)
    for n in (3, 10, 150):
        x = np.round(rng.normal(size=n), decimals)  # ties, and more tied points than k
        y = rng.random(n)
        at = np.r_[np.quantile(x, np.linspace(0, 1, 15)), rng.normal(size=4) * 3]
        for span in (0.3, 0.75, 1.0):
            with np.errstate(over="ignore"):
                want = _local_linear_smooth_reference(x, y, at, span)
            np.testing.assert_allclose(local_linear_smooth(x, y, at, span), want, atol=1e-12)
