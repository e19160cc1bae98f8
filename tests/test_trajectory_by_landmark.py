"""Separate landmark models (`models.by_landmark`, the trajectory step's ``by_landmark``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.features import DEFAULT_FEATURES
from relapse_ml.landmark import super_landmark_dataset
from relapse_ml.models import make_model
from relapse_ml.models.by_landmark import fit_each, landmark_keys, predict_each
from relapse_ml.simulate import simulate_trial

TIMES = [90.0, 365.0, 729.5]


def stacked_truth(n=1500, seed=0):
    """Two stacked landmarks whose effect of ``x`` on relapse differs: log HR 1.0 at day 60,
    0.0 at day 180 (exponential hazards, a competing death and censoring)."""
    rng = np.random.default_rng(seed)
    frames, times, events = [], [], []
    for day, beta in ((60.0, 1.0), (180.0, 0.0)):
        x = rng.normal(size=n)
        t1 = rng.exponential(1 / (0.002 * np.exp(beta * x)))
        t2 = rng.exponential(1 / 0.0008, size=n)
        c = rng.uniform(200, 730, size=n)
        t = np.minimum.reduce([t1, t2, c])
        events.append(np.select([t == t1, t == t2], [1, 2], 0))
        times.append(t)
        frames.append(pd.DataFrame({"x": x, "landmark_day": day, "landmark_day_sq": day**2}))
    return pd.concat(frames, ignore_index=True), np.concatenate(times), np.concatenate(events)


@pytest.fixture(scope="module")
def truth_fit():
    X, t, e = stacked_truth()
    keys = landmark_keys(X, e)
    models = fit_each(lambda: make_model("cox_cs", penalizer=0.0), X, t, e, None, keys)
    return X, t, e, models


def test_each_landmark_recovers_its_own_effect(truth_fit):
    _, _, _, models = truth_fit
    assert sorted(models) == [60.0, 180.0]
    # the log hazard ratio per unit of x from each landmark's own fit: early on (30 days,
    # incidences of a few percent) F1(30 | x = 1) / F1(30 | x = 0) ≈ the hazard ratio
    z = pd.DataFrame({"x": [0.0, 1.0]})
    slopes = {}
    for key, m in models.items():
        f = m.predict_cif(z, [30.0], cause=1)[:, 0]
        slopes[key] = float(np.log(f[1] / f[0]))
    assert abs(slopes[60.0] - 1.0) < 0.15
    assert abs(slopes[180.0]) < 0.15


def test_rows_mix_their_two_nearest_landmarks_linearly(truth_fit):
    X, _, _, models = truth_fit
    z = pd.DataFrame({"x": [-1.0, 0.5, 2.0]})
    own = {k: m.predict_cumulative_incidence(z, TIMES) for k, m in models.items()}
    for day, w in ((60.0, 0.0), (180.0, 1.0), (90.0, 0.25), (150.0, 0.75), (30.0, 0.0),
                   (400.0, 1.0)):
        rows = z.assign(landmark_day=day, landmark_day_sq=day**2)
        f1, f2 = predict_each(models, rows, TIMES)
        assert np.allclose(f1, (1 - w) * own[60.0][:, 1] + w * own[180.0][:, 1], atol=1e-12)
        assert np.allclose(f2, (1 - w) * own[60.0][:, 2] + w * own[180.0][:, 2], atol=1e-12)


def test_too_few_events_at_a_landmark_means_one_model():
    X, t, e = stacked_truth(n=200)
    assert landmark_keys(X, e, min_events=5) is not None
    late = X["landmark_day"].to_numpy() == 180.0
    e_few = np.where(late & (e == 2), 0, e)  # no competing death at day 180
    assert landmark_keys(X, e_few, min_events=5) is None
    assert landmark_keys(X.drop(columns="landmark_day"), e) is None
    assert landmark_keys(X[X.landmark_day == 60.0], e[~late]) is None  # one landmark only


@pytest.fixture(scope="module")
def stacked_trial():
    cohort = simulate_trial(n=700, seed=11, truth=False).to_cohort()
    return super_landmark_dataset(cohort, (60, 120, 180), 730,
                                  features=[*DEFAULT_FEATURES, "marker_history"])


@pytest.mark.parametrize("inner,params", [("cox_cs", {"penalizer": 0.1}),
                                          ("xgb_cs", {"n_estimators": 30, "max_depth": 2})])
def test_trajectory_step_by_landmark_and_its_bundle_twin_agree(stacked_trial, inner, params):
    from relapse_ml.scoring.numbers import numbers_from_files, numbers_from_model

    st = stacked_trial
    model = make_model("trajectory", model=inner, model_params=params, em_max_iter=10,
                       by_landmark=True, min_events=3)
    model.fit(st.X, st.time, st.event, groups=st.patient_id)
    assert model.model_ is None and sorted(model.landmark_models_) == [60.0, 120.0, 180.0]
    # each landmark has its own trajectory model: population parameters from that landmark's
    # rows only (they differ between landmarks), no landmark column; a row at a training
    # landmark is predicted by that landmark's model alone
    m60, m120 = model.landmark_models_[60.0], model.landmark_models_[120.0]
    assert "landmark_day" not in [str(c) for c in m120.feature_names_in_]
    assert not np.allclose(m60.population_.mu, m120.population_.mu)
    rows = np.flatnonzero(st.X["landmark_day"].to_numpy() == 120.0)[:50]
    own = st.X.iloc[rows].drop(columns=["landmark_day", "landmark_day_sq"])
    direct = m120.predict_cumulative_incidence(own.reset_index(drop=True), TIMES)
    via = model.predict_cumulative_incidence(st.X.iloc[rows].reset_index(drop=True), TIMES)
    assert np.allclose(direct, via, atol=1e-12)
    # between landmarks (day 150) and in the bundle: the same numbers
    X = st.X.iloc[:300].copy()
    X["landmark_day"], X["landmark_day_sq"] = 150.0, 150.0**2
    numbers = numbers_from_model(model)
    spec, files = numbers.to_files()
    if inner == "xgb_cs":
        assert {f.split("_")[0] for f in files} == {"lm60", "lm120", "lm180"}
    twin = numbers_from_files("trajectory", spec, files, numbers.feature_columns)
    got = twin.predict_incidence(X.reindex(columns=numbers.feature_columns).to_numpy(float), TIMES)
    assert np.allclose(got, model.predict_cumulative_incidence(X, TIMES), atol=1e-12)


def test_trajectory_step_falls_back_to_one_model_with_few_events(stacked_trial):
    st = stacked_trial
    model = make_model("trajectory", model="cox_cs", model_params={"penalizer": 0.1},
                       em_max_iter=10, by_landmark=True, min_events=10_000)
    model.fit(st.X, st.time, st.event)
    assert model.landmark_models_ is None and model.model_ is not None
    ci = model.predict_cumulative_incidence(st.X.iloc[:20], TIMES)
    assert np.allclose(ci.sum(axis=1), 1.0)


def test_the_landmark_models_config_blends_four_trajectory_models():
    from pathlib import Path

    from relapse_ml.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "landmark_models.yaml")
    traj = {m.display: m for m in cfg.models if m.name == "trajectory"}
    assert {k: bool(m.params.get("by_landmark")) for k, m in traj.items()} == {
        "xgb_cs_trajectory": False, "cox_cs_trajectory": False,
        "xgb_cs_trajectory_lm": True, "cox_cs_trajectory_lm": True}
    blend = next(m for m in cfg.models if m.name == "stack")
    assert blend.params["weights"] == "equal"
    members = [(m["label"], bool(m["params"].get("by_landmark"))) for m in blend.params["members"]]
    assert members == [(k, bool(traj[k].params.get("by_landmark"))) for k in traj]
    assert cfg.landmark.super_landmark
