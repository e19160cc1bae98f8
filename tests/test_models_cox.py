"""Cause-specific Cox: coefficients against scikit-survival and the truth; analytic incidences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.models import CauseSpecificCox
from tests._helpers_models import exponential_cif, simulate_cause_specific

BETA1, BETA2 = (0.8, -0.5), (0.3, 0.4)
RATE1, RATE2 = 1 / 500, 1 / 800


@pytest.fixture(scope="module")
def large():
    return simulate_cause_specific(
        3000, seed=21, beta1=BETA1, beta2=BETA2, rate1=RATE1, rate2=RATE2
    )


@pytest.fixture(scope="module")
def large_fit(large):
    return CauseSpecificCox(penalizer=0.0).fit(*large)


@pytest.mark.parametrize("cause", [1, 2])
def test_coefficients_match_scikit_survival(cause):
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    X, time, event = simulate_cause_specific(300, seed=3)
    X["x1"] = X["x1"] * 40 + 100  # per-unit coefficients survive the internal standardisation
    ours = CauseSpecificCox(penalizer=0.0).fit(X, time, event).coef_[cause]
    sk = CoxPHSurvivalAnalysis().fit(
        X, Surv.from_arrays(event == cause, time)
    )  # tie-free: Efron = Breslow
    np.testing.assert_allclose(ours.to_numpy(), sk.coef_, rtol=1e-4, atol=1e-6)


def test_recovers_the_true_log_hazard_ratios(large_fit):
    # n = 3000 gives standard errors near 0.03 (relapse) and 0.04 (NRM): 4 SE tolerance
    np.testing.assert_allclose(large_fit.coef_[1], BETA1, atol=0.12)
    np.testing.assert_allclose(large_fit.coef_[2], BETA2, atol=0.16)


def test_cumulative_incidence_matches_the_analytic_one(large_fit):
    x = np.array([[1.0, 0.5], [-1.0, 0.0], [0.0, 0.0]])
    times = np.array([100.0, 365.0, 730.0])
    cif = large_fit.predict_cumulative_incidence(pd.DataFrame(x, columns=["x0", "x1"]), times)
    l1 = RATE1 * np.exp(x @ BETA1)[:, None]
    l2 = RATE2 * np.exp(x @ BETA2)[:, None]
    f1, f2 = exponential_cif(l1, l2, times[None, :])
    np.testing.assert_allclose(cif[:, 1], f1, atol=0.04)
    np.testing.assert_allclose(cif[:, 2], f2, atol=0.04)


def test_missing_values_get_the_training_median_and_constants_are_dropped(large):
    X, time, event = large
    X = X.assign(constant=3.0)
    X.loc[X.index[:100], "x0"] = np.nan
    model = CauseSpecificCox().fit(X, time, event)
    assert list(model.coef_.index) == ["x0", "x1"]
    median = np.nanmedian(X["x0"])
    row = pd.DataFrame({"x0": [np.nan, median], "x1": [0.3, 0.3], "constant": [3.0, 3.0]})
    cif = model.predict_cif(row, [365.0])
    assert cif[0, 0] == pytest.approx(cif[1, 0], abs=1e-12)


def test_penalizer_shrinks_towards_zero(large):
    X, time, event = large
    plain = CauseSpecificCox(penalizer=0.0).fit(X, time, event).coef_
    ridge = CauseSpecificCox(penalizer=1.0).fit(X, time, event).coef_
    assert (ridge.abs().to_numpy() < plain.abs().to_numpy()).all()


def test_a_cause_without_events_has_zero_incidence():
    X, time, event = simulate_cause_specific(200, seed=8)
    event = np.where(event == 2, 0, event)
    cif = CauseSpecificCox().fit(X, time, event).predict_cumulative_incidence(X, [100.0, 1000.0])
    assert (cif[:, 2] == 0).all() and (cif[:, 1, -1] > 0).all()


@pytest.mark.parametrize("penalizer", [0.0, 0.1])
def test_ridge_fit_matches_scikit_survival_with_ties_and_a_penalty(penalizer):
    # the Newton fit on risk-set sums against scikit-survival's (same objective: Breslow ties,
    # penalty penalizer * n * |beta|^2 / 2 on the log partial likelihood)
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    from relapse_ml.models.cox import fit_cox_coefficients

    rng = np.random.default_rng(4)
    Z = rng.normal(size=(400, 3))
    time = np.ceil(rng.exponential(300 * np.exp(-Z @ [0.5, -0.3, 0.0])) / 20) * 20  # ties
    status = rng.random(400) < 0.6
    ours = fit_cox_coefficients(Z, time, status, penalizer=penalizer)
    sk = CoxPHSurvivalAnalysis(alpha=penalizer * 400, ties="breslow", tol=1e-12).fit(
        Z, Surv.from_arrays(status, time)).coef_
    np.testing.assert_allclose(ours, sk, rtol=1e-6, atol=1e-8)
