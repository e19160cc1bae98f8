"""Stacked landmark rows: every fitted split keeps a patient's rows together; the arm is
known only from the randomization day on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.landmark import super_landmark_dataset
from relapse_ml.models import make_model
from relapse_ml.models.xgb import validation_split
from relapse_ml.simulate import simulate_trial


def test_the_early_stopping_split_holds_out_whole_patients():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(300).astype(str), rng.integers(1, 6, 300))
    event = rng.integers(0, 3, groups.size)
    valid = validation_split(event, 0.2, 7, groups=groups)
    per_patient = pd.Series(valid).groupby(groups).agg(["min", "max"])
    assert (per_patient["min"] == per_patient["max"]).all()  # never on both sides
    assert 0.12 < per_patient["min"].mean() < 0.28  # about 20 % of the patients


def test_a_model_fitted_with_groups_keeps_no_patient_ids():
    sim = simulate_trial(120, seed=2).to_cohort()
    ld = super_landmark_dataset(sim, landmarks=(60, 120), horizon_days=365,
                                features=["baseline", "treatment"])
    model = make_model("xgb_cs", n_estimators=20).fit(ld.X, ld.time, ld.event, groups=ld.patient_id)
    assert not hasattr(model, "_groups")
    assert not any(isinstance(v, np.ndarray) and v.dtype == object and set(v) & set(ld.patient_id)
                   for v in vars(model).values())


def test_the_arm_enters_a_row_only_from_the_randomization_day_on():
    cohort = simulate_trial(60, seed=5).to_cohort()
    day = cohort.patients.set_index("patient_id")["randomization_day"]
    ld = super_landmark_dataset(cohort, landmarks=(30, 50, 60), horizon_days=365,
                                features=["treatment"])
    rand = day.reindex(ld.patient_id).to_numpy(float)
    before = rand > ld.landmark_day
    assert before.any() and (~before).any()
    assert ld.X["arm"][before].isna().all()
    assert ld.X["arm"][~before].notna().all()
