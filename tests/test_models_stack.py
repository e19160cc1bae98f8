"""The stacked ensemble: weights go to the member known best, to the null model on noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.errors import ModelError
from relapse_ml.models import aalen_johansen, make_model
from relapse_ml.models.stack import _simplex_quadratic
from tests._helpers_models import simulate_cause_specific

WEAK_XGB = {"name": "xgb_cs", "params": {"n_estimators": 2, "max_depth": 1, "learning_rate": 0.05}}


def test_the_member_that_matches_the_truth_takes_the_weight():
    X, time, event = simulate_cause_specific(1200, seed=4, beta1=(1.0, -0.8), horizon=700)
    stack = make_model("stack", members=[{"name": "cox_cs", "params": {"penalizer": 0.0}},
                                         WEAK_XGB]).fit(X, time, event)
    assert stack.weights_["cox_cs"] > 0.8, stack.weights_
    assert sum(stack.weights_.values()) == pytest.approx(1.0)
    assert stack.inner_ibs_["stack"] <= min(v for k, v in stack.inner_ibs_.items() if k != "stack") + 1e-12
    inc = stack.predict_cumulative_incidence(X.iloc[:50], [100.0, 400.0, 699.0])
    np.testing.assert_allclose(inc.sum(axis=1), 1.0, atol=1e-12)


def test_on_pure_noise_the_stack_shrinks_to_the_null_model():
    rng = np.random.default_rng(8)
    X0, time, event = simulate_cause_specific(800, seed=8, beta1=(0.0, 0.0), beta2=(0.0, 0.0),
                                              horizon=700)
    X = pd.DataFrame(rng.normal(size=(800, 8)), columns=[f"n{j}" for j in range(8)])
    overfit = {"name": "xgb_cs", "params": {"n_estimators": 200, "max_depth": 6,
                                            "learning_rate": 0.3, "min_child_weight": 1}}
    stack = make_model("stack", members=[{"name": "cox_cs", "params": {"penalizer": 0.0}},
                                         overfit]).fit(X, time, event)
    assert stack.weights_["aalen_johansen"] > 0.6, stack.weights_
    risk = stack.predict_cif(X, [699.0], cause=1)[:, 0]
    aj = aalen_johansen(time, event, [699.0], cause=1)[0]
    assert np.abs(risk - aj).max() < 0.05


def test_the_simplex_solver_finds_the_brute_force_minimum():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(3, 3))
    A = M @ M.T + 0.1 * np.eye(3)
    b = rng.normal(size=3)
    w = _simplex_quadratic(A, b)
    grid = [np.array([a, c, 1 - a - c]) for a in np.linspace(0, 1, 201)
            for c in np.linspace(0, 1, 201) if a + c <= 1 + 1e-12]
    best = min(grid, key=lambda v: v @ A @ v - 2 * b @ v)
    assert w @ A @ w - 2 * b @ w <= best @ A @ best - 2 * b @ best + 1e-9
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)


def test_a_stack_member_cannot_be_the_null_model_or_a_stack():
    for bad in ([{"name": "aalen_johansen"}], [{"name": "stack"}], []):
        with pytest.raises(ModelError):
            make_model("stack", members=bad)


def test_a_bad_member_fails_when_the_model_is_made_not_mid_training():
    with pytest.raises(ModelError, match="stack member 'cox_cs'.*no parameter"):
        make_model("stack", members=[{"name": "cox_cs", "params": {"penaliser": 0.1}}])
    with pytest.raises(ModelError, match="Unknown model 'cox'"):
        make_model("stack", members=[{"name": "cox"}])
