"""The trajectory step passes the patient ids of stacked landmark rows on to its inner model,
so the inner XGBoost's early-stopping split holds out whole patients (issue 10, item 5)."""

from __future__ import annotations

import numpy as np

from relapse_ml.features import DEFAULT_FEATURES
from relapse_ml.landmark import super_landmark_dataset
from relapse_ml.models import make_model
from relapse_ml.models import xgb as xgb_module
from relapse_ml.simulate import simulate_trial


def test_inner_xgboost_early_stopping_splits_by_patient(monkeypatch):
    cohort = simulate_trial(n=160, seed=7, truth=False).to_cohort()
    ld = super_landmark_dataset(cohort, landmarks=(60, 120, 180),
                                features=[*DEFAULT_FEATURES, "marker_history"])
    masks = []
    split = xgb_module.validation_split

    def spy(event, fraction, random_state, groups=None):
        mask = split(event, fraction, random_state, groups=groups)
        if groups is not None or len(mask) == len(ld):  # (not its own per-patient call)
            masks.append(mask)
        return mask

    monkeypatch.setattr(xgb_module, "validation_split", spy)
    model = make_model("trajectory", model="xgb_cs", em_max_iter=5,
                       model_params={"n_estimators": 5, "max_depth": 2})
    model.fit(ld.X, ld.time, ld.event, groups=ld.patient_id)
    assert masks
    for valid in (m for m in masks if len(m) == len(ld)):
        assert valid.any() and (~valid).any()
        held_out = set(ld.patient_id[valid])
        assert held_out.isdisjoint(ld.patient_id[~valid])  # no patient on both sides
    assert len(np.unique(ld.patient_id)) < len(ld)  # (stacked: patients have several rows)
