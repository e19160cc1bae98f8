"""Direct (IPCW multinomial) model: its weights against Aalen–Johansen, its horizon risk against the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.errors import ModelError
from relapse_ml.evaluation.ipcw import censoring_km, ipcw_weights
from relapse_ml.models import XGBoostDirect, aalen_johansen
from relapse_ml.models.direct import status_weights
from tests._helpers_models import exponential_cif, exponential_outcome, simulate_cause_specific

HORIZON = 730.0


@pytest.mark.parametrize("rounding", [None, 10.0])
def test_weighted_status_shares_are_aalen_johansen(rounding):
    # IPCW with the censoring Kaplan–Meier reproduces the Aalen–Johansen estimate exactly,
    # with ties and at a horizon where everyone left is censored administratively
    _, time, event = simulate_cause_specific(500, seed=41, horizon=HORIZON)
    if rounding:
        time = np.ceil(time / rounding) * rounding
    G = censoring_km(time, event)
    for t in (95.0, 300.0, HORIZON):
        status, weight = status_weights(time, event, t, G)
        for cause in (1, 2):
            share = np.mean(weight * (status == cause))
            assert share == pytest.approx(aalen_johansen(time, event, [t], cause)[0], abs=1e-12)


def test_weights_agree_with_the_shared_ipcw_weights_off_the_horizon():
    _, time, event = simulate_cause_specific(300, seed=42)
    G = censoring_km(time, event)
    t = 400.5  # no observed time falls on t, where the two conventions differ
    _, weight = status_weights(time, event, t, G)
    np.testing.assert_allclose(weight, ipcw_weights(time, event, t, G), rtol=1e-12)


def _binary_truth(n, seed):
    """A binary covariate tripling the relapse hazard; administrative censoring at the horizon."""
    rng = np.random.default_rng(seed)
    group = (rng.random(n) < 0.5).astype(float)
    x = np.column_stack([group, rng.normal(size=n)])
    l1 = np.where(group == 1, 3.0, 1.0) / 1500
    l2 = np.full(n, 1 / 2000)
    X, time, event = exponential_outcome(x, l1, l2, rng, censor_max=2500.0, horizon=HORIZON)
    return X, time, event, exponential_cif(l1, l2, HORIZON)[0]


def test_horizon_risk_is_close_to_the_truth_overall_and_per_group():
    X, time, event, truth = _binary_truth(1500, seed=43)
    # without early stopping the fit is not shrunk: it should find each group's risk;
    # the Aalen–Johansen estimate per group (750 patients) has a standard error near 0.02
    model = XGBoostDirect(horizon=HORIZON, early_stopping_rounds=None, n_estimators=150)
    pred = model.fit(X, time, event).predict_cif(X, [HORIZON])[:, 0]
    assert abs(pred.mean() - truth.mean()) < 0.03
    for g in (0.0, 1.0):
        mask = X["x0"].to_numpy() == g
        assert abs(pred[mask].mean() - truth[mask].mean()) < 0.05


def test_early_stopped_fit_is_calibrated_in_the_large_and_ranks_the_groups():
    X, time, event, truth = _binary_truth(1500, seed=43)
    pred = XGBoostDirect(horizon=HORIZON).fit(X, time, event).predict_cif(X, [HORIZON])[:, 0]
    group = X["x0"].to_numpy() == 1
    assert abs(pred.mean() - truth.mean()) < 0.03
    # early stopping on 300 patients shrinks the group difference (true: 0.34)
    assert pred[group].mean() - pred[~group].mean() > 0.15


def test_grid_reads_as_right_continuous_steps():
    X, time, event = simulate_cause_specific(300, seed=44, horizon=HORIZON)
    model = XGBoostDirect(horizon=HORIZON, times=[200.0, 400.0, HORIZON], n_estimators=20).fit(
        X, time, event
    )
    np.testing.assert_array_equal(model.times_, [200.0, 400.0, HORIZON])
    cif = model.predict_cif(X.iloc[:5], [0.0, 199.0, 200.0, 399.0, 400.0, HORIZON, 2000.0])
    np.testing.assert_array_equal(cif[:, :2], 0.0)
    np.testing.assert_array_equal(cif[:, 2], cif[:, 3])
    np.testing.assert_array_equal(cif[:, 5], cif[:, 6])  # no extrapolation beyond the horizon
    assert (cif[:, 5] >= cif[:, 4]).all()


def test_default_grid_ends_at_the_horizon():
    X, time, event = simulate_cause_specific(300, seed=45, horizon=HORIZON)
    model = XGBoostDirect(horizon=500.0, n_times=3, n_estimators=10).fit(X, time, event)
    assert model.times_.size == 3 and model.times_[-1] == 500.0 and model.times_[0] > 0


def test_bad_grid_is_refused():
    X, time, event = simulate_cause_specific(100, seed=46)
    with pytest.raises(ModelError, match="horizon"):
        XGBoostDirect(horizon=300.0, times=[100.0, 400.0]).fit(X, time, event)
    with pytest.raises(ModelError, match="horizon"):
        XGBoostDirect(horizon=-1.0).fit(pd.DataFrame(X), time, event)
