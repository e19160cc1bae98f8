"""The PATH risk-based learner takes the linear models' penalizer values, `auto` included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.benefit.config import LearnerSpec, ModelSpec
from relapse_ml.benefit.learners import arm_risk_factory
from relapse_ml.errors import ModelError


def _trial(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "noise": rng.normal(size=n)})
    arm = rng.integers(0, 2, n)
    hazard = 0.002 * np.exp(0.8 * X["x"].to_numpy() - 0.4 * arm)
    t_rel, t_nrm = rng.exponential(1 / hazard), rng.exponential(1 / 0.0008, n)
    cens = rng.uniform(200, 1500, n)
    time = np.minimum.reduce([t_rel, t_nrm, cens])
    event = np.select([time == t_rel, time == t_nrm], [1, 2], 0)
    return X, time, event, arm


def test_risk_learner_with_auto_penalty_fits_and_ranks_by_risk():
    X, time, event, arm = _trial()
    spec = LearnerSpec(kind="risk", label="risk_auto",
                       model=ModelSpec(name="fine_gray", params={"penalizer": "auto"}))
    learner = arm_risk_factory(spec, 365.0, list(X.columns))().fit(X, time, event, arm)
    risk = learner.predict(X)["relapse"]  # (n, 2): risk under control, under sorafenib
    assert learner.blind_.penalizer_[1] > 0  # chosen inside the fit, not the string
    # the true relapse risk rises with x: the arm-blinded risk must follow it
    assert np.corrcoef(risk[:, 0], X["x"])[0, 1] > 0.8


def test_risk_learner_rejects_a_bad_penalizer_before_fitting():
    spec = LearnerSpec(kind="risk", label="risk_bad",
                       model=ModelSpec(name="fine_gray", params={"penalizer": "bogus"}))
    with pytest.raises(ModelError, match="penalizer"):
        arm_risk_factory(spec, 365.0, ["x"])
