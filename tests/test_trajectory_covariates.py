"""Baseline covariates in the trajectory model's random-effect mean: b_i ~ N(mu + z_i B, D)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relapse_ml.features import DEFAULT_FEATURES
from relapse_ml.features.trajectory import (
    MARKERS,
    TrajectoryParams,
    history_from_columns,
    posterior,
    trajectory_features,
)
from relapse_ml.features.trajectory_fit import fit_trajectory_params
from relapse_ml.landmark import landmark_dataset, super_landmark_dataset
from relapse_ml.models import make_model
from relapse_ml.simulate import simulate_trial
from tests.test_trajectory import TRUE, simulate_histories

TIMES = [180.0, 729.5]
FEATURES = [*DEFAULT_FEATURES, "marker_history"]
GOLDEN = Path(__file__).parent / "data" / "trajectory_none_golden.json"
# the slope effect of the binary covariate (per month) on each marker's slope, and on MRD level
SLOPE_SHIFT = np.array([0.15, 0.04, 0.02])
LEVEL_SHIFT = 0.6


def two_groups(n: int, seed: int, landmark=180.0):
    """Histories of ``n`` rows whose random-effect means depend on a 0/1 covariate ``g``."""
    shifted = TrajectoryParams(TRUE.mu.copy(), TRUE.D, TRUE.sigma2)
    shifted.mu[1::2] += SLOPE_SHIFT
    shifted.mu[0] += LEVEL_SHIFT
    X0, _ = simulate_histories(n // 2, seed, landmark=landmark)
    X1, _ = simulate_histories(n - n // 2, seed + 100, shifted, landmark=landmark)
    X = pd.concat([X0, X1], ignore_index=True)
    X["g"] = np.r_[np.zeros(len(X0)), np.ones(len(X1))]
    return X


def _hist(X, covariates=("g",)):
    return history_from_columns(X.to_numpy(float), list(X.columns), covariates=covariates)


def test_em_recovers_the_group_difference_of_the_random_effect_means():
    X = two_groups(800, seed=3)
    fit = fit_trajectory_params(_hist(X), max_iter=60, covariates=("g",))
    assert fit.covariates == ("g",)
    effect = fit.B[0] / fit.cov_scale[0]  # per unit of g: the group difference
    # slopes within 0.03 per month of the true differences, MRD level within 0.15 log10
    # (censored MRD: the E-step is approximate), the other levels within 0.05
    assert np.allclose(effect[1::2], SLOPE_SHIFT, atol=0.03)
    assert abs(effect[0] - LEVEL_SHIFT) < 0.15
    assert np.allclose(effect[2::2], 0.0, atol=0.05)
    # the reference group's mean is mu + B z(g = 0)
    ref = fit.mu + ((0.0 - fit.cov_mean) / fit.cov_scale) @ fit.B
    assert np.allclose(ref[1::2], TRUE.mu[1::2], atol=0.03)
    # D is the covariance around the group means: no longer inflated by the group difference
    plain = fit_trajectory_params(_hist(X, ()), max_iter=60)
    assert fit.D[1, 1] < plain.D[1, 1]
    assert np.allclose(fit.D[1, 1], TRUE.D[1, 1], rtol=0.4)


def test_posterior_with_covariates_is_the_conjugate_normal_one_without_censoring():
    X = two_groups(40, seed=4, landmark=90.0)
    mrd = [c for c in X.columns if c.startswith("_obs:mrd_mfc:value")]
    X[mrd] = X[mrd].where(X[mrd].isna(), 0.5)  # every MRD sample detectable: no censoring
    X.loc[3, "g"] = np.nan  # a missing covariate: the training mean
    rng = np.random.default_rng(0)
    B = rng.normal(0, 0.2, (1, 6))
    params = TrajectoryParams(TRUE.mu, TRUE.D, TRUE.sigma2, covariates=("g",), B=B,
                              cov_mean=np.array([0.4]), cov_scale=np.array([0.5]))
    h = _hist(X)
    assert not h.censored.any()
    m, V = posterior(params, h)
    P0 = np.linalg.inv(TRUE.D)
    for i in range(len(X)):  # the textbook formulas with a dense design, row by row
        g = X.loc[i, "g"]
        z = 0.0 if np.isnan(g) else (g - 0.4) / 0.5
        prior = TRUE.mu + z * B[0]
        rows, ys, s2 = [], [], []
        for j in np.flatnonzero(h.observed[i]):
            k = h.marker[j]
            zr = np.zeros(6)
            zr[2 * k], zr[2 * k + 1] = 1.0, h.t[i, j]
            rows.append(zr), ys.append(h.y[i, j]), s2.append(TRUE.sigma2[k])
        Z, y, w = np.array(rows), np.array(ys), 1.0 / np.array(s2)
        Vi = np.linalg.inv(P0 + Z.T @ (w[:, None] * Z))
        mi = Vi @ (P0 @ prior + Z.T @ (w * y))
        np.testing.assert_allclose(m[i], mi, atol=1e-10)
        np.testing.assert_allclose(V[i], Vi, atol=1e-12)


def test_none_reproduces_the_numbers_from_before_covariates():
    """The golden file was written by the code before this option (tests/test_trajectory's
    simulator, 120 rows, seed 7, landmark 90, 20 EM iterations). None of its chimerism values is
    100 % donor, so reading that as censored (added later) changes nothing here but the
    recorded limit."""
    gold = json.loads(GOLDEN.read_text())

    def same(a, b):  # to rounding: exact until numpy 2.4 changed summation order (1e-16)
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], str | list) and any(isinstance(x, str) for x in np.ravel(a[k])):
                assert a[k] == b[k], k
            else:
                np.testing.assert_allclose(np.asarray(a[k], float), np.asarray(b[k], float),
                                           rtol=1e-12, atol=1e-14, err_msg=k)

    X, _ = simulate_histories(120, 7, landmark=90.0)
    h = history_from_columns(X.to_numpy(float), list(X.columns))
    assert not h.censored[:, h.marker == 2].any()
    p = fit_trajectory_params(h, max_iter=20)
    doc = p.to_json()
    assert doc.pop("chimerism_limit") == 1.0
    same(doc, gold["population"])  # to rounding, not approximately
    f = trajectory_features(p, h)
    same({k: v[:10].tolist() for k, v in f.items()}, gold["features"])


@pytest.fixture(scope="module")
def trial_l60():
    cohort = simulate_trial(n=300, seed=5, truth=False).to_cohort()
    return cohort, landmark_dataset(cohort, 60, 730, features=FEATURES)


@pytest.fixture(scope="module")
def fitted(trial_l60):
    _, ld = trial_l60
    model = make_model("trajectory", model="cox_cs", model_params={"penalizer": 0.1},
                       em_max_iter=10, covariates="default")
    return model.fit(ld.X, ld.time, ld.event)


def test_default_covariates_are_fitted_and_the_bundle_twin_is_exact(trial_l60, fitted):
    from relapse_ml.scoring.numbers import numbers_from_files, numbers_from_model

    _, ld = trial_l60
    pop = fitted.population_
    assert set(pop.covariates) <= {"disease_status_CR2", "disease_status_CR3plus",
                                   "disease_status_NR", "cytogenetic_risk_intermediate",
                                   "cytogenetic_risk_adverse", "pre_hsct_mrd_positive", "age"}
    assert "age" in pop.covariates and pop.B.shape == (len(pop.covariates), 2 * len(MARKERS))
    numbers = numbers_from_model(fitted)
    spec, files = numbers.to_files()
    spec = json.loads(json.dumps(spec))  # as a bundle stores it
    assert spec["population"]["covariates"] == list(pop.covariates)
    twin = numbers_from_files("trajectory", spec, files, numbers.feature_columns)
    X = ld.X.reindex(columns=numbers.feature_columns).to_numpy(float)
    np.testing.assert_allclose(twin.predict_incidence(X, TIMES),
                               fitted.predict_cumulative_incidence(ld.X, TIMES), atol=1e-12)


def test_missing_or_unseen_covariate_values_score_without_crashing(trial_l60, fitted):
    _, ld = trial_l60
    pop = fitted.population_
    X = ld.X.iloc[:4].copy()
    X["age"] = [np.nan, 250.0, pop.cov_mean[pop.covariates.index("age")], 40.0]
    X[pop.covariates[0]] = np.nan
    X.loc[X.index[3], pop.covariates[0]] = 7.0  # a value training never saw
    inc = fitted.predict_cumulative_incidence(X, TIMES)
    assert np.isfinite(inc).all() and ((inc >= 0) & (inc <= 1)).all()
    # a missing value is the training mean
    f = fitted.transform(X)
    assert f["traj_mrd_mfc_slope"].iloc[0] == pytest.approx(
        fitted.transform(X.iloc[[0]].assign(age=X["age"].iloc[2]))["traj_mrd_mfc_slope"].iloc[0],
        abs=1e-12)


def test_covariates_do_not_leak_data_after_L(trial_l60, fitted):
    from relapse_ml.features import build_features
    from tests.test_trajectory_model import _changed_after

    cohort, _ = trial_l60
    before = build_features(cohort, 60, FEATURES)
    after = build_features(_changed_after(cohort, 60), 60, FEATURES)
    np.testing.assert_array_equal(fitted.predict_cumulative_incidence(before, TIMES),
                                  fitted.predict_cumulative_incidence(after, TIMES))


def test_by_landmark_models_carry_their_own_covariate_effects():
    from relapse_ml.scoring.numbers import numbers_from_files, numbers_from_model

    cohort = simulate_trial(n=500, seed=11, truth=False).to_cohort()
    st = super_landmark_dataset(cohort, (60, 180), 730, features=FEATURES)
    model = make_model("trajectory", model="cox_cs", model_params={"penalizer": 0.1},
                       em_max_iter=8, by_landmark=True, min_events=3, covariates=["age"])
    model.fit(st.X, st.time, st.event, groups=st.patient_id)
    pops = [m.population_ for m in model.landmark_models_.values()]
    assert all(p.covariates == ("age",) for p in pops)
    assert not np.allclose(pops[0].B, pops[1].B)
    numbers = numbers_from_model(model)
    spec, files = numbers.to_files()
    twin = numbers_from_files("trajectory", json.loads(json.dumps(spec)), files,
                              numbers.feature_columns)
    X = st.X.iloc[:200]
    got = twin.predict_incidence(X.reindex(columns=numbers.feature_columns).to_numpy(float), TIMES)
    np.testing.assert_allclose(got, model.predict_cumulative_incidence(X, TIMES), atol=1e-12)


def test_an_unknown_covariate_is_a_clear_error(trial_l60):
    from relapse_ml.errors import ModelError

    _, ld = trial_l60
    with pytest.raises(ModelError, match="not_a_column"):
        make_model("trajectory", model="cox_cs", covariates=["not_a_column"]).fit(
            ld.X, ld.time, ld.event)
    with pytest.raises(ModelError, match="'some'"):
        make_model("trajectory", model="cox_cs", covariates="some").fit(ld.X, ld.time, ld.event)
