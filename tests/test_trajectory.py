"""Marker-trajectory features: the Tobit mixed model, its fit, leakage and the model step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_ndtr as scipy_log_ndtr

from relapse_ml.features.trajectory import (
    CHIMERISM_DETECTION_LIMIT,
    HISTORY_SLOTS,
    MARKERS,
    TrajectoryParams,
    history_columns,
    history_from_columns,
    log_ndtr,
    markers_for,
    mills,
    posterior,
    trajectory_features,
)
from relapse_ml.features.trajectory_fit import fit_trajectory_params

DAYS = np.array([30.0, 60.0, 90.0, 120.0, 180.0])
LIMIT = np.log10(0.01)  # MRD detection limit on the log10 scale
CHIM_LIMIT = np.log10(2.0)  # 1 % recipient cells on the log10(101 - donor %) scale
TRUE = TrajectoryParams(
    mu=np.array([-2.3, 0.25, 1.3, 0.05, 0.9, 0.02]),
    D=np.diag([0.5, 0.04, 0.06, 0.01, 0.02, 0.004]),
    sigma2=np.array([0.09, 0.02, 0.01]),
)


def _raw(k: int, y: np.ndarray) -> np.ndarray:
    """Transformed values back to what the lab reports (MRD below the limit -> 0)."""
    if k == 0:
        return np.where(y < LIMIT, 0.0, 10.0**y)
    if k == 1:
        return 10.0**y - 1.0
    # chimerism: recipient cells below the assay's limit (1 %) are reported as 100 % donor
    return np.where(y < CHIM_LIMIT, 100.0, 101.0 - 10.0**y)


def simulate_histories(n: int, seed: int, params: TrajectoryParams = TRUE, landmark=180.0):
    """Hidden history columns of ``n`` rows drawn from the model; also the true effects."""
    rng = np.random.default_rng(seed)
    b = rng.multivariate_normal(params.mu, params.D, size=n)
    cols = {"_obs:landmark_day": np.full(n, landmark)}
    for k, m in enumerate(MARKERS):
        t = (DAYS - 60.0) / 30.0
        y = b[:, [2 * k]] + b[:, [2 * k + 1]] * t + rng.normal(
            0, np.sqrt(params.sigma2[k]), (n, DAYS.size))
        raw = _raw(k, y)
        days = np.where(DAYS <= landmark, DAYS, np.nan)
        for j in range(HISTORY_SLOTS):
            cols[f"_obs:{m.name}:day:{j}"] = np.full(n, days[j] if j < DAYS.size else np.nan)
        for j in range(HISTORY_SLOTS):
            v = raw[:, j] if j < DAYS.size and DAYS[j] <= landmark else np.full(n, np.nan)
            cols[f"_obs:{m.name}:value:{j}"] = v
    X = pd.DataFrame(cols)[history_columns()]
    return X, b


def _history(X: pd.DataFrame):
    return history_from_columns(X.to_numpy(float), list(X.columns))


def test_log_ndtr_matches_scipy():
    u = np.linspace(-30, 8, 400)
    assert np.allclose(log_ndtr(u), scipy_log_ndtr(u), rtol=2e-6, atol=1e-9)
    lam = mills(u)
    assert np.allclose(lam, np.exp(-0.5 * u**2 - 0.5 * np.log(2 * np.pi) - scipy_log_ndtr(u)),
                       rtol=2e-6)


def test_population_parameters_recovered_on_data_from_the_model():
    X, _ = simulate_histories(800, seed=1)
    fit = fit_trajectory_params(_history(X))
    # means within 0.1 log10 (level; the Laplace E-step of a censored marker is biased by
    # about 0.08 here, 3 standard errors) / 0.03 per month (slope); variances within 35 %
    assert np.allclose(fit.mu[0::2], TRUE.mu[0::2], atol=0.1)
    assert np.allclose(fit.mu[1::2], TRUE.mu[1::2], atol=0.03)
    assert np.allclose(fit.sigma2, TRUE.sigma2, rtol=0.35)
    assert np.allclose(np.diag(fit.D), np.diag(TRUE.D), rtol=0.35, atol=0.005)


def test_patient_level_and_slope_recovered():
    X, b = simulate_histories(400, seed=2)
    f = trajectory_features(TRUE, _history(X))
    t_L = (180.0 - 60.0) / 30.0
    for k, name in enumerate(("mrd_mfc", "wt1", "donor_chimerism")):
        level_true = b[:, 2 * k] + b[:, 2 * k + 1] * t_L
        err = f[f"traj_{name}_level"] - level_true
        sd = f[f"traj_{name}_level_sd"]
        # the posterior is centred on the truth and its SD describes the error
        assert abs(err.mean()) < 0.05
        assert 0.7 < np.sqrt(np.mean((err / sd) ** 2)) < 1.3
        assert np.corrcoef(f[f"traj_{name}_slope"], b[:, 2 * k + 1])[0, 1] > 0.8


def test_mrd_below_the_detection_limit_is_censored_not_zero():
    # a population with MRD mostly undetectable: its mean log10 MRD is well below the limit
    params = TrajectoryParams(TRUE.mu.copy(), TRUE.D.copy(), TRUE.sigma2.copy())
    params.mu[0], params.mu[1] = -2.6, 0.05
    X, _ = simulate_histories(800, seed=3, params=params)
    h = _history(X)
    mrd = h.marker == 0
    assert h.censored[:, mrd][h.observed[:, mrd]].mean() > 0.6  # mostly below the limit
    fit = fit_trajectory_params(h)
    assert abs(fit.mu[0] - params.mu[0]) < 0.1
    # the naive reading (an undetectable sample taken at the limit) is biased upward
    naive = h.y[:, mrd][h.observed[:, mrd]].mean()
    assert naive - params.mu[0] > 0.4
    # one patient: all samples undetectable vs all exactly at the limit (0.01 %)
    two = X.iloc[:2].copy()
    for j in range(DAYS.size):
        two[f"_obs:mrd_mfc:value:{j}"] = [0.0, 0.01]
    f = trajectory_features(fit, _history(two))
    assert f["traj_mrd_mfc_level"][0] < LIMIT < f["traj_mrd_mfc_level"][0] + 3
    assert f["traj_mrd_mfc_level"][0] < f["traj_mrd_mfc_level"][1] - 0.2
    assert f["traj_mrd_mfc_p_detectable"][0] < f["traj_mrd_mfc_p_detectable"][1]


def test_full_donor_chimerism_is_censored_not_exact():
    """100 % donor cells means "recipient cells below the assay's limit" (1 %): a left-censored
    value at log10(1 + 1) on the recipient scale, as an undetectable MRD is at its limit."""
    assert CHIMERISM_DETECTION_LIMIT == 1.0
    params = TrajectoryParams(TRUE.mu.copy(), TRUE.D.copy(), TRUE.sigma2.copy(),
                              chimerism_limit=CHIMERISM_DETECTION_LIMIT)
    params.mu[4], params.mu[5] = 0.1, 0.0  # mostly full donor chimerism
    X, _ = simulate_histories(800, seed=4, params=params)
    h = _history(X)
    chim = h.marker == 2
    seen = h.observed[:, chim]
    assert h.censored[:, chim][seen].mean() > 0.6
    assert np.allclose(h.y[:, chim][h.censored[:, chim]], CHIM_LIMIT)
    fit = fit_trajectory_params(h)
    assert fit.chimerism_limit == CHIMERISM_DETECTION_LIMIT
    assert abs(fit.mu[4] - params.mu[4]) < 0.05
    # between-patient variances of level and slope within 35 % (seeds 4-6: 0.017-0.023 for
    # 0.02, 0.0045-0.0052 for 0.004)
    assert np.allclose(np.diag(fit.D)[4:6], np.diag(params.D)[4:6], rtol=0.35)
    # reading 100 % as exact (the rule before) puts every censored value at 0 on this scale
    exact = markers_for(TrajectoryParams(TRUE.mu, TRUE.D, TRUE.sigma2))
    assert next(m for m in exact if m.name == "donor_chimerism").detection_limit is None
    h_exact = history_from_columns(X.to_numpy(float), list(X.columns), exact)
    assert not h_exact.censored[:, chim].any()
    naive = fit_trajectory_params(h_exact)
    assert naive.chimerism_limit is None  # parameters record the rule their rows were read with
    # ... which shrinks the patients' differences: both variances below 0.6 x the truth
    # (seeds 4-6: about 0.4 x for the level, 0.5-0.6 x for the slope)
    assert np.all(np.diag(naive.D)[4:6] < 0.6 * np.diag(params.D)[4:6])
    # one patient always at 100 % is estimated below one always at 99 % (exactly at the limit)
    two = X.iloc[:2].copy()
    for j in range(DAYS.size):
        two[f"_obs:donor_chimerism:value:{j}"] = [100.0, 99.0]
    f = trajectory_features(fit, _history(two))
    assert f["traj_donor_chimerism_level"][0] < f["traj_donor_chimerism_level"][1] - 0.05
    assert f["traj_donor_chimerism_level"][0] < CHIM_LIMIT


def test_parameters_saved_before_chimerism_censoring_keep_the_exact_reading():
    fit = fit_trajectory_params(_history(simulate_histories(200, seed=5)[0]), max_iter=5)
    doc = fit.to_json()
    assert doc["chimerism_limit"] == CHIMERISM_DETECTION_LIMIT
    assert TrajectoryParams.from_json(doc).chimerism_limit == CHIMERISM_DETECTION_LIMIT
    doc.pop("chimerism_limit")  # a bundle exported by an earlier version
    old = markers_for(TrajectoryParams.from_json(doc))
    assert [m.detection_limit for m in old] == [MARKERS[0].detection_limit, None, None]


def test_one_row_gives_the_same_features_as_the_batch():
    X, _ = simulate_histories(50, seed=4)
    fit = fit_trajectory_params(_history(X))
    batch = trajectory_features(fit, _history(X))
    for i in (0, 17, 49):
        one = trajectory_features(fit, _history(X.iloc[[i]]))
        for k, v in one.items():
            assert v[0] == pytest.approx(batch[k][i], rel=1e-12, abs=1e-13)


def test_a_rows_posterior_does_not_depend_on_the_rest_of_the_batch():
    """Convergence is judged per row: blocks of any composition give each row the same
    features (the model predicts in blocks, a bundle scores one patient or all at once).
    Mixed landmarks make rows converge after different numbers of sweeps."""
    X = pd.concat([simulate_histories(40, seed=6, landmark=L)[0] for L in (60.0, 120.0, 365.0)],
                  ignore_index=True)
    fit = fit_trajectory_params(_history(X))
    whole = trajectory_features(fit, _history(X))
    order = np.random.default_rng(1).permutation(len(X))
    for block in np.array_split(order, 7):
        part = trajectory_features(fit, _history(X.iloc[block]))
        for k, v in part.items():
            np.testing.assert_allclose(v, whole[k][block], rtol=1e-12, atol=1e-13, err_msg=k)


def test_posterior_without_samples_is_the_prior():
    X, _ = simulate_histories(3, seed=5)
    X.loc[:, [c for c in X.columns if ":value:" in c]] = np.nan
    m, V = posterior(TRUE, _history(X))
    assert np.allclose(m, TRUE.mu) and np.allclose(V, TRUE.D)


def test_params_round_trip_json():
    again = TrajectoryParams.from_json(TRUE.to_json())
    assert np.array_equal(again.D, TRUE.D) and again.markers == TRUE.markers
