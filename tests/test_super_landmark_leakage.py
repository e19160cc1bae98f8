"""No leakage on the super-landmark path: a model fitted on stacked landmarks, scored at any
visit L, does not move when data dated after L change (and does when data on L change)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data.cohort import Cohort
from relapse_ml.landmark import DEFAULT_LANDMARKS, super_landmark_dataset
from relapse_ml.models import make_model
from relapse_ml.predictor import RelapseRiskPredictor, training_ranges
from relapse_ml.scoring.inputs import model_features
from relapse_ml.scoring.model import from_predictor
from relapse_ml.simulate import simulate_trial

FEATURES = None  # the default feature set
OUTCOME = ("relapse", "death", "last_followup")


MODELS = {"xgb_cs": {"n_estimators": 40, "max_depth": 2},
          "cox_cs": {"penalizer": 0.1}}  # stratified by landmark, with landmark interactions


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request):
    cohort = simulate_trial(160, seed=4, truth=False).to_cohort()
    ld = super_landmark_dataset(cohort, DEFAULT_LANDMARKS, 730, features=FEATURES)
    model = make_model(request.param, **MODELS[request.param]).fit(
        ld.X, ld.time, ld.event, groups=ld.patient_id)
    predictor = RelapseRiskPredictor(
        model=model, feature_columns=list(ld.X.columns), features=FEATURES, landmark_day=60.0,
        horizon_days=730.0, horizons=[365.0, 730.0], super_landmark=True,
        landmarks=list(DEFAULT_LANDMARKS), training_ranges=training_ranges(ld.X))
    return cohort, ld, from_predictor(predictor)


def _rewrite(cohort: Cohort, L: float, on_day: float) -> Cohort:
    """Every marker and non-outcome event after L dropped, and alarming new ones dated
    ``on_day`` for every patient; the outcome events are kept as they are."""
    m, e = cohort.measurements, cohort.events
    ids = cohort.patients["patient_id"]
    m = pd.concat([m[m["day"] <= L], pd.DataFrame(
        {"patient_id": np.repeat(ids.to_numpy(), 3), "day": on_day,
         "marker": np.tile(["mrd_mfc", "wt1", "donor_chimerism"], len(ids)),
         "value": np.tile([30.0, 5000.0, 20.0], len(ids)), "sample": "BM"})], ignore_index=True)
    keep = (e["day"] <= L) | e["event"].isin(OUTCOME)
    e = pd.concat([e[keep], pd.DataFrame({"patient_id": ids.to_numpy(), "day": on_day,
                                          "event": "cgvhd", "grade": 3.0})], ignore_index=True)
    return Cohort(cohort.patients.copy(), m, e)


def _risk(model, cohort, L):
    X = model_features(model, cohort, L).reindex(columns=model.feature_columns)
    return model.numbers.predict_incidence(X.to_numpy(float), [729.5])[:, 1, 0]


@pytest.mark.parametrize("L", [60.0, 120.0, 150.0, 270.0, 365.0])
def test_scores_at_a_visit_ignore_data_after_it(fitted, L):
    cohort, _, model = fitted
    before = _risk(model, cohort, L)
    after = _risk(model, _rewrite(cohort, L, L + 0.5), L)
    np.testing.assert_array_equal(before, after)
    on_l = _risk(model, _rewrite(cohort, L, L), L)  # the same change dated ON L does show
    assert np.mean(np.abs(on_l - before) > 1e-6) > 0.5


def test_stacked_rows_up_to_a_landmark_ignore_data_after_it(fitted):
    cohort, ld, _ = fitted
    L = 120.0
    changed = super_landmark_dataset(_rewrite(cohort, L, L + 0.5), DEFAULT_LANDMARKS, 730,
                                     features=FEATURES)
    for day in (60.0, 90.0, 120.0):
        a, b = ld.select(ld.landmark_day == day), changed.select(changed.landmark_day == day)
        both = np.intersect1d(a.patient_id, b.patient_id)  # new data may extend a follow-up
        assert len(both) > 0.95 * len(a)
        xa, xb = a.X.set_axis(a.patient_id).loc[both], b.X.set_axis(b.patient_id).loc[both]
        pd.testing.assert_frame_equal(xa, xb, check_exact=True)
    later = changed.select(changed.landmark_day == 180.0)
    assert (later.X["mrd_mfc_latest"] == 30.0).all()  # the later rows do see it


def test_a_super_landmark_model_scores_every_visit_without_an_extrapolation_warning(fitted):
    """`score --landmark-day 90/180` with a super-landmark model: no extrapolation warning
    inside days 60-365, the warning outside; the landmark columns follow the visit."""
    from relapse_ml.scoring.patient import patient_from_dict, record_from_cohort
    from relapse_ml.scoring.score import score_record

    cohort, _, model = fitted
    assert model.supported_landmarks == (60.0, 365.0)
    T = cohort.outcome["time"]
    pid = str(T[T > 500].index[0])
    days = []
    for L, outside in ((90.0, False), (180.0, False), (365.0, False), (400.0, True)):
        doc = patient_from_dict(record_from_cohort(cohort, pid, landmark_day=L), "test")
        out = score_record(model, doc)
        codes = {w["code"] for w in out["warnings"]}
        assert ("landmark_outside_model" in codes) is outside, (L, codes)
        assert "early_landmark" not in codes
        days.append(model_features(model, cohort, L).loc[pid, "landmark_day"])
    assert days == [90.0, 180.0, 365.0, 400.0]
