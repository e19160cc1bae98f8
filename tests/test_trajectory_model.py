"""The trajectory model step: hidden history columns, no leakage, training-only parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from relapse_ml.config import parse_config
from relapse_ml.features import DEFAULT_FEATURES, build_features
from relapse_ml.features.trajectory import HISTORY_SLOTS, history_columns
from relapse_ml.landmark import landmark_dataset
from relapse_ml.models import make_model
from relapse_ml.simulate import simulate_trial

L = 60
FEATURES = [*DEFAULT_FEATURES, "marker_history"]
TIMES = [180.0, 729.5]


@pytest.fixture(scope="module")
def trial():
    return simulate_trial(n=300, seed=5, truth=False).to_cohort()


@pytest.fixture(scope="module")
def fitted(trial):
    ld = landmark_dataset(trial, L, 730, features=FEATURES)
    model = make_model("trajectory", model="cox_cs", em_max_iter=15)
    return ld, model.fit(ld.X, ld.time, ld.event)


def test_history_columns_hold_the_last_samples_up_to_L(trial):
    X = build_features(trial, L, ["marker_history"])
    assert list(X.columns) == history_columns()
    m = trial.measurements
    pid = m.loc[m["marker"] == "wt1", "patient_id"].iloc[0]
    own = m[(m.patient_id == pid) & (m.marker == "wt1") & (m.day <= L)].sort_values("day")
    days = X.loc[pid, [f"_obs:wt1:day:{j}" for j in range(HISTORY_SLOTS)]].dropna()
    assert list(days) == list(own["day"].iloc[-HISTORY_SLOTS:])
    assert (X["_obs:landmark_day"] == L).all()


def test_plain_models_ignore_hidden_columns(fitted):
    ld, _ = fitted
    cox = make_model("cox_cs").fit(ld.X, ld.time, ld.event)
    assert not any(c.startswith("_obs:") for c in cox.feature_names_in_)


def test_trajectory_model_predicts_incidences(fitted):
    ld, model = fitted
    ci = model.predict_cumulative_incidence(ld.X, TIMES)
    assert ci.shape == (len(ld), 3, 2)
    assert np.allclose(ci.sum(axis=1), 1.0) and (np.diff(ci[:, 1], axis=1) >= 0).all()
    inner = model.transform(ld.X)
    assert "traj_mrd_mfc_p_detectable" in inner and not inner.filter(like="_obs:").shape[1]


def _changed_after(cohort, day: float):
    """Every measurement after ``day`` changed (values, days) and new late samples added."""
    m = cohort.measurements.copy()
    late = m["day"] > day
    m.loc[late, "value"] = np.where(m.loc[late, "marker"] == "donor_chimerism", 50.0, 7.5)
    m.loc[late, "day"] = m.loc[late, "day"] + 3
    extra = m[~late].groupby("patient_id").head(1).assign(day=day + 1, value=5.0)
    m = pd.concat([m, extra[extra["marker"] != "donor_chimerism"]], ignore_index=True)
    return dataclasses.replace(cohort, measurements=m.sort_values(["patient_id", "day"]))


def test_no_leakage_data_after_L_cannot_move_features_or_predictions(trial, fitted):
    ld, model = fitted
    changed = _changed_after(trial, L)
    before = build_features(trial, L, FEATURES)
    after = build_features(changed, L, FEATURES)
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    np.testing.assert_array_equal(model.predict_cumulative_incidence(before, TIMES),
                                  model.predict_cumulative_incidence(after, TIMES))


def test_population_parameters_come_from_the_training_rows_only(fitted):
    ld, _ = fitted
    n = len(ld) // 2
    A, B = ld.select(np.arange(n)), ld.select(np.arange(n, len(ld)))
    m1 = make_model("trajectory", model="cox_cs", em_max_iter=15).fit(A.X, A.time, A.event)
    f1 = m1.transform(B.X.iloc[:5])
    # B's other rows and outcomes are no input to A's fit or to a B row's features
    m2 = make_model("trajectory", model="cox_cs", em_max_iter=15).fit(A.X, A.time, A.event)
    f2 = m2.transform(pd.concat([B.X.iloc[:5], B.X.iloc[::-1]]).iloc[:5])
    assert np.array_equal(m1.population_.mu, m2.population_.mu)
    pd.testing.assert_frame_equal(f1, f2)
    # refitted on other rows, the parameters change (they are fitted, not fixed)
    m3 = make_model("trajectory", model="cox_cs", em_max_iter=15).fit(B.X, B.time, B.event)
    assert not np.allclose(m3.population_.mu, m1.population_.mu)


def test_one_patient_scores_as_in_the_batch(fitted):
    ld, model = fitted
    batch = model.predict_cumulative_incidence(ld.X, TIMES)
    for i in (0, len(ld) // 3, len(ld) - 1):
        one = model.predict_cumulative_incidence(ld.X.iloc[[i]], TIMES)
        np.testing.assert_allclose(one[0], batch[i], atol=1e-10)


def test_missing_history_columns_is_a_clear_error(fitted):
    ld, _ = fitted
    from relapse_ml.errors import ModelError

    X = ld.X[[c for c in ld.X.columns if not c.startswith("_obs:")]]
    with pytest.raises(ModelError, match="marker_history"):
        make_model("trajectory").fit(X, ld.time, ld.event)


def test_config_turns_the_step_on_and_adds_the_histories():
    from relapse_ml.train import feature_list

    cfg = parse_config({"models": [{"name": "trajectory", "params": {"model": "xgb_cs"}}]})
    assert feature_list(cfg)[-1] == "marker_history"
    assert feature_list(parse_config({"models": [{"name": "xgb_cs"}]})) is None
    assert feature_list(parse_config({}))[-1] == "marker_history"  # the default has the step
    from relapse_ml.train import model_params

    cfg = parse_config({"models": [{"name": "trajectory", "params": {"model": "xgb_direct"}}]})
    assert model_params(cfg.models[0], cfg)["model_params"]["horizon"] == 729.5


def test_bundle_scores_one_patient_as_the_fitted_model(tmp_path):
    from relapse_ml.data import read_cohort
    from relapse_ml.predictor import RelapseRiskPredictor, training_ranges
    from relapse_ml.scoring.bundle import load_bundle
    from relapse_ml.scoring.export import export_predictor
    from relapse_ml.scoring.inputs import model_features
    from tests._helpers_scoring import simulated_trial_dir

    d = simulated_trial_dir(tmp_path, n=200, seed=7)
    cohort = read_cohort(d)
    ld = landmark_dataset(cohort, L, 730, features=FEATURES)
    params = {"model": "xgb_cs", "model_params": {"n_estimators": 40, "max_depth": 2},
              "em_max_iter": 10}
    model = make_model("trajectory", **params).fit(ld.X, ld.time, ld.event)
    predictor = RelapseRiskPredictor(
        model=model, feature_columns=list(ld.X.columns), features=FEATURES, landmark_day=L,
        horizon_days=730.0, horizons=[365.0, 730.0], training_ranges=training_ranges(ld.X),
        info={"model": "trajectory", "model_name": "trajectory", "params": params})
    path, _ = export_predictor(predictor, tmp_path / "bundle", data=d, progress=None)
    bundle = load_bundle(path)  # the export itself checked it reproduces the model
    # a bundle whose boosters came from another XGBoost major.minor is refused
    from relapse_ml.errors import ModelError
    from relapse_ml.scoring.trajectory_numbers import TrajectoryNumbers

    spec, files = bundle.numbers.to_files()
    with pytest.raises(ModelError, match="XGBoost 0.1"):
        TrajectoryNumbers.from_files({**spec, "xgboost": "0.1.0"}, files, bundle.feature_columns)
    # hidden histories are raw input: no training range, hence no out-of-range warning
    assert not any(c.startswith("_obs:") for c in bundle.training_ranges)
    pid = str(ld.patient_id[3])
    one = dataclasses.replace(
        cohort, **{k: getattr(cohort, k)[getattr(cohort, k)["patient_id"] == pid]
                   for k in ("patients", "measurements", "events")})
    X1 = model_features(bundle, one, L)  # the one-patient scoring path
    np.testing.assert_allclose(bundle.incidence(X1.to_numpy(float), TIMES, "control"),
                               model.predict_cumulative_incidence(
                                   ld.X.iloc[[3]].assign(arm=0.0), TIMES), atol=1e-9)


def test_super_landmark_rows_use_their_own_landmark(trial):
    from relapse_ml.landmark import super_landmark_dataset

    ld = super_landmark_dataset(trial, landmarks=(60, 120), features=FEATURES)
    assert set(ld.X["_obs:landmark_day"]) == {60.0, 120.0}
    model = make_model("trajectory", model="cox_cs", em_max_iter=10).fit(ld.X, ld.time, ld.event)
    f = model.transform(ld.X)
    assert "landmark_day" in f and np.isfinite(f.filter(like="traj_").to_numpy()).all()
    # a patient's row at day 120 sees the day-90 sample, the row at day 60 does not
    pid = next(p for p in ld.patient_id if (ld.patient_id == p).sum() == 2)
    rows = ld.X[ld.patient_id == pid].set_index("_obs:landmark_day")
    days = rows.filter(like="_obs:wt1:day:")
    assert days.loc[120.0].max() > 60 >= days.loc[60.0].max()


def test_two_models_on_the_same_rows_share_one_fit_and_match_uncached_fits(fitted, monkeypatch):
    import relapse_ml.models.trajectory as T
    from relapse_ml.models import trajectory_cache

    ld, _ = fitted
    half = ld.select(np.arange(len(ld) // 2))
    calls = []
    real = T.fit_trajectory_params
    monkeypatch.setattr(T, "fit_trajectory_params",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    trajectory_cache.clear()
    cox = make_model("trajectory", model="cox_cs", em_max_iter=15).fit(half.X, half.time, half.event)
    xgb = make_model("trajectory", model="xgb_cs", em_max_iter=15,
                     model_params={"n_estimators": 20}).fit(half.X, half.time, half.event)
    assert len(calls) == 1 and xgb.population_ is cox.population_  # one EM for both
    # the same rows with baseline covariates in the prior mean (the default's Cox model): its own
    cov = make_model("trajectory", model="cox_cs", em_max_iter=15, covariates="default").fit(
        half.X, half.time, half.event)
    assert cov.population_.covariates and len(calls) == 2
    assert cov.population_ is not cox.population_
    # another training set is another entry: its own fit, never the cached one
    other = ld.select(np.arange(len(ld) // 2, len(ld)))
    make_model("trajectory", model="cox_cs", em_max_iter=15).fit(other.X, other.time, other.event)
    assert len(calls) == 3
    # a hit gives exactly what a fresh computation gives
    cached_pred = cox.predict_cif(ld.X, TIMES)
    trajectory_cache.clear()
    fresh = make_model("trajectory", model="cox_cs", em_max_iter=15).fit(half.X, half.time, half.event)
    assert len(calls) == 4
    np.testing.assert_array_equal(fresh.predict_cif(ld.X, TIMES), cached_pred)
    assert trajectory_cache.size() <= trajectory_cache.MAX_ENTRIES


def test_the_cache_is_bounded_by_entries_and_bytes(monkeypatch):
    from relapse_ml.models import trajectory_cache as C

    C.clear()
    monkeypatch.setattr(C, "MAX_ENTRIES", 3)
    for i in range(5):
        C.cached(("k", i), lambda: {"x": np.zeros(10)})
    assert C.size() == 3 and C.cached(("k", 4), lambda: None) is not None  # the newest stay
    C.clear()
    monkeypatch.setattr(C, "MAX_BYTES", 8 * 25)
    for i in range(3):
        C.cached(("b", i), lambda: {"x": np.zeros(10)})  # 80 bytes each: the third evicts one
    assert C.size() == 2
    assert C.cached(("b", 0), lambda: "recomputed") == "recomputed"  # the oldest went first
    C.clear()


def test_models_saved_before_chimerism_censoring_keep_reading_it_as_exact(fitted):
    """A bundle exported (population JSON without ``chimerism_limit``) or a model pickled before
    full donor chimerism was read as censored scores as it did then: the model path and the
    bundle twin both read 100 % as an exact value, which differs from today's reading."""
    import copy

    from relapse_ml.scoring.trajectory_numbers import TrajectoryNumbers

    ld, model = fitted
    chim = [c for c in ld.X.columns if c.startswith("_obs:donor_chimerism:value:")]
    assert (ld.X[chim].to_numpy(float) >= 100).any()  # the rule matters on these rows
    spec, files = TrajectoryNumbers.of(model).to_files()
    assert spec["population"]["chimerism_limit"] == 1.0
    old_doc = {k: v for k, v in spec["population"].items() if k != "chimerism_limit"}
    columns = [str(c) for c in ld.X.columns]
    new_twin = TrajectoryNumbers.from_files(spec, files, columns)
    old_twin = TrajectoryNumbers.from_files({**spec, "population": old_doc}, files, columns)
    old_model = copy.copy(model)  # as unpickled from before: the attribute is not there
    old_model.population_ = copy.copy(model.population_)
    del old_model.population_.chimerism_limit
    assert old_model.population_.chimerism_limit is None  # the class default: exact reading
    Xa = ld.X.to_numpy(float)
    new, old = new_twin.predict_incidence(Xa, TIMES), old_twin.predict_incidence(Xa, TIMES)
    np.testing.assert_allclose(model.predict_cumulative_incidence(ld.X, TIMES), new, atol=1e-12)
    np.testing.assert_allclose(old_model.predict_cumulative_incidence(ld.X, TIMES), old,
                               atol=1e-12)
    assert np.abs(old - new).max() > 1e-4  # the two readings differ on these rows
