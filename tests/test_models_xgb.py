"""Cause-specific XGBoost: ranking against the truth, non-linear gain over Cox, SHAP, early stopping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from relapse_ml.models import CauseSpecificCox, XGBoostCauseSpecific
from relapse_ml.models.xgb import validation_split
from tests._helpers_models import exponential_cif, exponential_outcome, simulate_cause_specific

TAU = 365.0


def _true_f1(X, beta1=(0.8, -0.5), beta2=(0.3, 0.4), rate1=1 / 500, rate2=1 / 800):
    x = X.to_numpy()
    f1, _ = exponential_cif(rate1 * np.exp(x @ beta1), rate2 * np.exp(x @ beta2), TAU)
    return f1


def test_ranks_patients_like_the_true_risk():
    X, time, event = simulate_cause_specific(1000, seed=31)
    X_test, _, _ = simulate_cause_specific(500, seed=32)
    model = XGBoostCauseSpecific(random_state=1).fit(X, time, event)
    pred = model.predict_cif(X_test, [TAU])[:, 0]
    assert spearmanr(pred, _true_f1(X_test)).statistic > 0.85
    # and the level is right on average
    assert abs(pred.mean() - _true_f1(X_test).mean()) < 0.04


def _threshold_truth(n, seed):
    """Relapse hazard 4x higher when |x0| > 1: no proportional-hazards line can rank that."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    l1 = np.where(np.abs(x[:, 0]) > 1.0, 4.0, 1.0) / 800
    l2 = np.full(n, 1 / 1000)
    X, time, event = exponential_outcome(x, l1, l2, rng)
    return X, time, event, exponential_cif(l1, l2, TAU)[0]


def test_beats_linear_cox_on_a_non_linear_truth():
    X, time, event, _ = _threshold_truth(1500, seed=33)
    X_test, _, _, truth = _threshold_truth(600, seed=34)
    xgb = XGBoostCauseSpecific(random_state=0).fit(X, time, event)
    cox = CauseSpecificCox().fit(X, time, event)
    rho_xgb = spearmanr(xgb.predict_cif(X_test, [TAU])[:, 0], truth).statistic
    rho_cox = spearmanr(cox.predict_cif(X_test, [TAU])[:, 0], truth).statistic
    assert rho_xgb > 0.6
    assert rho_xgb > rho_cox + 0.3


def test_learns_from_informative_missingness():
    rng = np.random.default_rng(35)
    high = rng.random(1000) < 0.3  # these patients relapse 5x faster, and lack x0
    X, time, event = exponential_outcome(
        rng.normal(size=(1000, 2)), np.where(high, 5.0, 1.0) / 800, np.full(1000, 1 / 1000), rng
    )
    X.loc[high, "x0"] = np.nan
    pred = XGBoostCauseSpecific(random_state=0).fit(X, time, event).predict_cif(X, [TAU])[:, 0]
    assert pred[high].mean() > pred[~high].mean() + 0.3  # truth: 0.80 vs 0.31


@pytest.mark.parametrize("cause", [1, 2])
def test_shap_values_add_up_to_the_margin(cause):
    X, time, event = simulate_cause_specific(
        400, seed=36, beta1=(0.8, -0.5, 0.0), beta2=(0.3, 0.4, 0.0)
    )
    X.loc[X.index[::5], "x1"] = np.nan
    model = XGBoostCauseSpecific(n_estimators=50, random_state=0).fit(X, time, event)
    values, bias = model.shap_margin(X, cause=cause)
    assert values.shape == (len(X), 3) and bias.shape == (len(X),)
    np.testing.assert_allclose(
        values.sum(axis=1) + bias, model.predict_log_hazard_ratio(X, cause), atol=1e-4
    )
    # the noise feature x2 matters least
    assert np.abs(values).mean(axis=0).argmin() == 2


def test_early_stopping_stops_on_noise_and_can_be_switched_off():
    rng = np.random.default_rng(37)
    X, time, event = exponential_outcome(
        rng.normal(size=(400, 3)), np.full(400, 1 / 500), np.full(400, 1 / 800), rng
    )
    stopped = XGBoostCauseSpecific(
        n_estimators=200, learning_rate=0.3, early_stopping_rounds=10
    ).fit(X, time, event)
    assert all(r < 60 for r in stopped.n_rounds_.values())
    full = XGBoostCauseSpecific(n_estimators=40, early_stopping_rounds=None).fit(X, time, event)
    assert full.n_rounds_ == {1: 40, 2: 40}


def test_validation_split_is_stratified_and_seeded():
    event = np.repeat([0, 1, 2], [100, 50, 30])
    mask = validation_split(event, 0.2, random_state=3)
    assert [mask[event == k].sum() for k in (0, 1, 2)] == [20, 10, 6]
    np.testing.assert_array_equal(mask, validation_split(event, 0.2, random_state=3))
    assert (mask != validation_split(event, 0.2, random_state=4)).any()
    assert not validation_split(event, 0.0, random_state=3).any()
