"""Landmark data sets: at-risk set, outcome from L, super-landmark stacking, and no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relapse_ml.data.cohort import Cohort
from relapse_ml.data.contract import EVENTS, MARKERS
from relapse_ml.errors import ConfigError
from relapse_ml.features import DEFAULT_FEATURES
from relapse_ml.landmark import (
    DEFAULT_LANDMARKS,
    LandmarkData,
    add_landmark_columns,
    build_features,
    landmark_dataset,
    super_landmark_dataset,
)
from tests._helpers_features import make_cohort

ALL_FEATURES = list(DEFAULT_FEATURES) + ["sorafenib_days", "platelet_recovery", "blood_counts"]


def _outcome_cohort(outcomes: list[tuple[str, float, str]]) -> Cohort:
    """Patients with one outcome event each: (id, day, event)."""
    patients = pd.DataFrame(
        {
            "patient_id": [o[0] for o in outcomes],
            "age": 40.0,
            "sex": "F",
            "diagnosis": "ALL",
            "disease_status": "CR1",
            "cytogenetic_risk": "adverse",
            "flt3": "negative",
            "pre_hsct_mrd": "negative",
            "donor_type": "MUD",
            "conditioning": "MAC",
            "ecog": 1,
        }
    )
    events = pd.DataFrame(outcomes, columns=["patient_id", "day", "event"])
    measurements = pd.DataFrame(
        {"patient_id": [o[0] for o in outcomes], "day": 30.0, "marker": "wt1", "value": 10.0}
    )
    return Cohort(patients, measurements, events)


def test_at_risk_set_and_outcome_from_the_landmark():
    L, H = 60, 730
    cohort = _outcome_cohort(
        [
            ("relapse_on_L", 60, "relapse"),  # not relapse-free at L: out
            ("death_on_L", 60, "death"),  # not alive at L: out
            ("censored_on_L", 60, "last_followup"),  # not observed after L: out
            ("early_relapse", 20, "relapse"),  # out
            ("relapse_next_day", 61, "relapse"),
            ("relapse_at_horizon", 60 + 730, "relapse"),  # T - L = H: still an event
            ("relapse_after_horizon", 60 + 731, "relapse"),  # administratively censored at H
            ("nrm", 100, "death"),
            ("censored", 500, "last_followup"),
        ]
    )
    data = landmark_dataset(cohort, L, H)
    got = {pid: (t, e) for pid, t, e in zip(data.patient_id, data.time, data.event, strict=True)}
    assert got == {
        "relapse_next_day": (1.0, 1),
        "relapse_at_horizon": (730.0, 1),
        "relapse_after_horizon": (730.0, 0),
        "nrm": (40.0, 2),
        "censored": (440.0, 0),
    }
    assert isinstance(data, LandmarkData) and len(data) == 5
    assert data.X.shape[0] == 5 and list(data.X.columns) == data.feature_names
    assert (data.landmark_day == 60).all() and data.time.dtype == float and data.event.dtype == int
    # the rows of X are the patients' rows of build_features, in the same order
    # (less the baseline columns constant over this cohort: every patient has the same baseline)
    full = build_features(cohort, L)
    assert set(full.columns) - set(data.X.columns) == {
        c for c in full.columns if c in ("age", "ecog", "hct_ci", "hct_ci_missing")
        or c.startswith(("sex_", "diagnosis_", "disease_status_", "cytogenetic_risk_",
                         "pre_hsct_mrd_", "donor_type_", "conditioning_"))}  # fmt: skip
    pd.testing.assert_frame_equal(
        data.X, full.loc[list(data.patient_id), data.X.columns].reset_index(drop=True)
    )


@pytest.mark.parametrize("L,H", [(60, 730), (180, 365), (365, 100)])
def test_outcome_matches_a_per_patient_loop(L, H):
    cohort = make_cohort(n=40, seed=L + H)
    data = landmark_dataset(cohort, L, H, features=["arm"])
    expected = {}
    ev = cohort.events
    for pid in cohort.patients["patient_id"]:
        e = ev[ev.patient_id == pid]
        relapse = e.day[e.event == "relapse"].min()
        death = e.day[e.event == "death"].min()
        last = max(
            e.day.max(), cohort.measurements.day[cohort.measurements.patient_id == pid].max()
        )
        if not np.isnan(relapse) and (np.isnan(death) or relapse <= death):
            T, E = relapse, 1
        elif not np.isnan(death):
            T, E = death, 2
        else:
            T, E = last, 0
        if T > L:
            expected[pid] = (min(T - L, H), E if T - L <= H else 0)
    got = {p: (t, e) for p, t, e in zip(data.patient_id, data.time, data.event, strict=True)}
    assert got == expected
    assert len(expected) < len(cohort.patients)  # the filter excluded someone
    assert (data.time > 0).all() and (data.time <= H).all()


def test_super_landmark_stacks_landmarks():
    cohort = make_cohort(n=30, seed=3)
    stacked = super_landmark_dataset(cohort, horizon_days=365, features=["mrd_mfc", "arm"])
    parts = [landmark_dataset(cohort, L, 365, ["mrd_mfc", "arm"]) for L in DEFAULT_LANDMARKS]
    assert len(stacked) == sum(len(p) for p in parts)
    assert stacked.feature_names == parts[0].feature_names + ["landmark_day", "landmark_day_sq"]
    start = 0
    for L, part in zip(DEFAULT_LANDMARKS, parts, strict=True):
        rows = slice(start, start + len(part))
        start += len(part)
        block = stacked.X.iloc[rows].reset_index(drop=True)
        pd.testing.assert_frame_equal(block[part.feature_names], part.X)
        assert (block["landmark_day"] == L).all()
        np.testing.assert_allclose(block["landmark_day_sq"], (L / 365) ** 2)
        np.testing.assert_array_equal(stacked.time[rows], part.time)
        np.testing.assert_array_equal(stacked.event[rows], part.event)
        np.testing.assert_array_equal(stacked.patient_id[rows], part.patient_id)
        assert (stacked.landmark_day[rows] == L).all()
    # patients repeat across landmarks; selecting by patient keeps all their rows
    pid = stacked.patient_id[0]
    mine = stacked.for_patients([pid])
    assert len(mine) == (stacked.patient_id == pid).sum() > 1
    assert (mine.patient_id == pid).all()
    assert len(stacked.select(stacked.landmark_day == 90)) == len(parts[1])


def test_add_landmark_columns_for_scoring():
    cohort = make_cohort(n=5, seed=1)
    X = add_landmark_columns(build_features(cohort, 120), 120)
    assert list(X.columns[-2:]) == ["landmark_day", "landmark_day_sq"]
    assert (X["landmark_day"] == 120).all() and np.allclose(X["landmark_day_sq"], (120 / 365) ** 2)


def test_bad_settings_are_config_errors():
    cohort = make_cohort(n=3, seed=0)
    for kwargs in ({"landmark_day": -1}, {"horizon_days": 0}, {"landmark_day": "soon"}):
        with pytest.raises(ConfigError):
            landmark_dataset(cohort, **kwargs)
    with pytest.raises(ConfigError, match="'mrd'"):
        landmark_dataset(cohort, features=["mrd"])
    with pytest.raises(ConfigError):
        super_landmark_dataset(cohort, landmarks=())


# ---------------------------------------------------------------- leakage (property test)

LANDMARKS = (30, 60, 90, 180, 365)
# with declared extra markers / events (contract v2) and platelet counts: the one marker family,
# recovery and declared-event features must not see data after L either
_COHORTS = {seed: make_cohort(n=10, seed=seed, declared=True) for seed in (11, 12)}
_MARKERS = tuple(m for m in MARKERS if m in ("mrd_mfc", "wt1", "donor_chimerism", "anc", "plt")) + (
    "ngs_mrd",
)
_EVENTS = tuple(e for e in EVENTS) + ("cmv_infection", "platelet_recovery")


def _mutate_after(cohort: Cohort, L: float, ops, data) -> Cohort:
    """Apply changes dated strictly after L: edit, move, delete or add rows."""
    m, e = cohort.measurements.copy(), cohort.events.copy()
    ids = list(cohort.patients["patient_id"])
    after_day = st.floats(min_value=L + 1e-6, max_value=4000, allow_nan=False)
    for op in ops:
        late_m = np.flatnonzero(m["day"].to_numpy() > L)
        late_e = np.flatnonzero(e["day"].to_numpy() > L)
        if op == "meas_value" and len(late_m):
            i = m.index[data.draw(st.sampled_from(late_m))]
            m.loc[i, "value"] = data.draw(st.floats(0, 100, allow_nan=False))
        elif op == "meas_day" and len(late_m):
            m.loc[m.index[data.draw(st.sampled_from(late_m))], "day"] = data.draw(after_day)
        elif op == "meas_delete" and len(late_m):
            m = m.drop(index=m.index[data.draw(st.sampled_from(late_m))])
        elif op == "event_grade" and len(late_e):
            e.loc[e.index[data.draw(st.sampled_from(late_e))], "grade"] = data.draw(
                st.integers(1, 4)
            )
        elif op == "event_day" and len(late_e):
            e.loc[e.index[data.draw(st.sampled_from(late_e))], "day"] = data.draw(after_day)
        elif op == "event_delete" and len(late_e):
            e = e.drop(index=e.index[data.draw(st.sampled_from(late_e))])
        elif op.startswith("meas"):
            row = {
                "patient_id": data.draw(st.sampled_from(ids)),
                "day": data.draw(after_day),
                "marker": data.draw(st.sampled_from(_MARKERS)),
                "value": data.draw(st.floats(0, 100, allow_nan=False)),
                "sample": "BM",
            }
            m = pd.concat([m, pd.DataFrame([row])], ignore_index=True)
        else:
            row = {
                "patient_id": data.draw(st.sampled_from(ids)),
                "day": data.draw(after_day),
                "event": data.draw(st.sampled_from(_EVENTS)),
                "grade": float(data.draw(st.integers(1, 3))),
                "detail": None,
            }
            e = pd.concat([e, pd.DataFrame([row])], ignore_index=True)
    # shuffle row order too: features must not depend on it
    perm_m = data.draw(st.permutations(range(len(m))))
    perm_e = data.draw(st.permutations(range(len(e))))
    return Cohort(
        cohort.patients.copy(),
        m.iloc[list(perm_m)].reset_index(drop=True),
        e.iloc[list(perm_e)].reset_index(drop=True),
        extra_columns=dict(cohort.extra_columns),
        extra_markers=dict(cohort.extra_markers),
        extra_events=dict(cohort.extra_events),
    )


def _predictor(X: pd.DataFrame, y: np.ndarray):
    """A deterministic fitted model standing in for any model scored on features at L."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), Ridge()).fit(
        X, y
    )


_OPS = st.sampled_from(
    ["meas_value", "meas_day", "meas_delete", "meas_add", "event_grade", "event_day",
     "event_delete", "event_add"]
)  # fmt: skip


@settings(max_examples=40, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(
    seed=st.sampled_from(sorted(_COHORTS)),
    L=st.sampled_from(LANDMARKS),
    ops=st.lists(_OPS, min_size=1, max_size=4),
    data=st.data(),
)
def test_no_leakage_after_the_landmark(seed, L, ops, data):
    cohort = _COHORTS[seed]
    changed = _mutate_after(cohort, L, ops, data)
    before = build_features(cohort, L, ALL_FEATURES)
    after = build_features(changed, L, ALL_FEATURES)
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    # a model fitted on the original landmark set predicts the same at L
    train = landmark_dataset(cohort, L, 730, ALL_FEATURES)
    if len(train) >= 2:
        model = _predictor(train.X, (train.event == 1).astype(float))
        cols = train.X.columns  # the training columns (reference levels dropped), as scoring does
        np.testing.assert_array_equal(model.predict(before[cols]), model.predict(after[cols]))
    # rows of patients at risk in both versions are identical in the landmark data set
    a = landmark_dataset(cohort, L, 730, ALL_FEATURES)
    b = landmark_dataset(changed, L, 730, ALL_FEATURES)
    both = np.intersect1d(a.patient_id, b.patient_id)
    xa = a.X.set_axis(a.patient_id).loc[both]
    xb = b.X.set_axis(b.patient_id).loc[both]
    pd.testing.assert_frame_equal(xa, xb, check_exact=True)


@settings(max_examples=25, derandomize=True, deadline=None)
@given(
    seed=st.sampled_from(sorted(_COHORTS)),
    L=st.sampled_from(LANDMARKS),
    patient=st.integers(0, 9),
    marker=st.sampled_from(["mrd_mfc", "wt1"]),
    offset=st.floats(0, 1),
    how=st.sampled_from(["add", "edit"]),
)
def test_changes_on_or_before_the_landmark_do_show(seed, L, patient, marker, offset, how):
    """The leakage test could fail: a new worst value dated <= L changes the marker's peak."""
    cohort = _COHORTS[seed]
    pid = cohort.patients["patient_id"].iloc[patient]
    m = cohort.measurements.copy()
    mine = (m.patient_id == pid) & (m.marker == marker) & (m.day >= 0) & (m.day <= L)
    new_value = (m.value[mine].max() if mine.any() else 0.0) + 1.0
    if how == "edit" and mine.any():
        m.loc[m.index[mine][0], "value"] = new_value
    else:
        day = round(offset * L, 3)  # anywhere in [0, L], including L itself
        row = {"patient_id": pid, "day": day, "marker": marker, "value": new_value}
        m = pd.concat([m, pd.DataFrame([row])], ignore_index=True)
    changed = Cohort(cohort.patients, m, cohort.events, extra_columns=cohort.extra_columns,
                     extra_markers=cohort.extra_markers, extra_events=cohort.extra_events)
    before = build_features(cohort, L, ALL_FEATURES)
    after = build_features(changed, L, ALL_FEATURES)
    assert after.loc[pid, f"{marker}_peak"] == new_value != before.loc[pid, f"{marker}_peak"]
    others = before.index != pid
    pd.testing.assert_frame_equal(before[others], after[others], check_exact=True)
