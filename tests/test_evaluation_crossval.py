"""Evaluation times, `evaluate`, oracle comparison, bootstrap CIs and cross-validation."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _helpers_evaluation import KnownHazardModel, simulate, true_cif  # noqa: E402

from relapse_ml.errors import RelapseMLError  # noqa: E402
from relapse_ml.evaluation import (  # noqa: E402
    TAU_METRICS,
    EvaluationWarning,
    bootstrap_ci,
    censoring_km,
    compare_with_oracle,
    concordance_index_wolbers,
    cross_validate,
    default_eval_times,
    evaluate,
    evaluate_oracle,
)

HORIZON = 730.0


def _administrative(n: int, seed: int):
    """Landmark-like data: everyone still event-free is censored at the horizon."""
    x, t, e = simulate(n, seed=seed, censor_max=3000.0)
    e = np.where(t > HORIZON, 0, e)
    return x, np.minimum(t, HORIZON), e


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_times_lie_strictly_inside_follow_up(seed):
    for _x, t, e in (_administrative(300, seed), simulate(300, seed=seed)):
        times = default_eval_times(t, e, n=15)
        assert times.size >= 2 and np.all(np.diff(times) > 0)
        assert times[0] > 0 and times[-1] < t.max()
        assert np.all(censoring_km(t, e).at(times) > 0)
        assert np.all([(t > s).sum() > 0 for s in times])  # someone still at risk
        assert times[0] >= np.quantile(t[e == 1], 0.1) - 1e-9


def test_evaluate_clips_horizon_and_drops_times_beyond_follow_up():
    x, t, e = _administrative(400, seed=3)
    xs, ts, es = _administrative(400, seed=4)
    times = np.array([180.0, 365.0, 600.0, HORIZON, 900.0])
    cif = true_cif(xs, times)
    with pytest.warns(EvaluationWarning):
        result = evaluate(t, e, ts, es, cif, times, tau=HORIZON)
    assert result["tau"] == 600.0  # the largest prediction time inside follow-up
    assert result["by_time"]["time"].tolist() == [180.0, 365.0, 600.0]
    assert all(np.isfinite(result[k]) for k in TAU_METRICS)
    # evaluate at 600 directly gives the same numbers
    direct = evaluate(t, e, ts, es, cif[:, :3], times[:3], tau=600.0)
    assert direct["brier_tau"] == pytest.approx(result["brier_tau"])
    assert direct["c_index"] == pytest.approx(concordance_index_wolbers(ts, es, cif[:, 2], 600.0))
    with pytest.raises(RelapseMLError, match="not among the prediction times"):
        evaluate(t, e, ts, es, cif, times, tau=500.0)


def test_evaluate_keys_and_consistency():
    x, t, e = simulate(500, seed=5)
    xs, ts, es = simulate(500, seed=6)
    times = default_eval_times(t, e, n=8)
    result = evaluate(t, e, ts, es, true_cif(xs, times), times, tau=times[-1])
    assert result["ipa_tau"] == pytest.approx(1 - result["brier_tau"] / result["null_brier_tau"])
    assert result["ibs"] == pytest.approx(
        np.trapezoid(result["by_time"]["brier"], times) / (times[-1] - times[0])
    )
    assert result["calibration_table"]["n"].sum() == ts.size
    assert result["c_index"] > 0.6 and result["ipa_tau"] > 0


def test_oracle_metrics_and_ratios():
    x, t, e = simulate(600, seed=9)
    xs, ts, es = simulate(600, seed=10)
    tau = 365.0
    truth = true_cif(xs, [tau])[:, 0]
    noisy_x = xs + np.random.default_rng(0).normal(scale=1.0, size=xs.size)
    times = np.array([180.0, tau])
    model = evaluate(t, e, ts, es, true_cif(noisy_x, times), times, tau)
    oracle = evaluate_oracle(t, e, ts, es, truth, tau)
    assert "ibs" not in oracle and "mean_auc" not in oracle
    assert set(TAU_METRICS) <= set(oracle)
    assert oracle["c_index"] > model["c_index"]
    assert oracle["brier_tau"] < model["brier_tau"]
    table = compare_with_oracle(model, oracle)
    assert table.loc["c_index", "ratio"] == pytest.approx(model["c_index"] / oracle["c_index"])
    assert table.loc["c_index", "ratio"] < 1 and table.loc["brier_tau", "ratio"] > 1
    assert bool(table.loc["c_index", "higher_is_better"])


# --- bootstrap -------------------------------------------------------------------------


def _cindex(t, e, r):
    return concordance_index_wolbers(t, e, r, 365.0)


def test_bootstrap_ci_contains_estimate_narrows_with_n_and_is_seeded():
    widths = []
    for n in (150, 1500):
        x, t, e = simulate(n, seed=12)
        risk = true_cif(x, [365.0])[:, 0]
        ci = bootstrap_ci(_cindex, t, e, risk, n_boot=120, seed=1)
        row = ci.loc["value"]
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
        assert row["estimate"] == pytest.approx(_cindex(t, e, risk))
        widths.append(row["ci_high"] - row["ci_low"])
    assert widths[1] < 0.6 * widths[0]
    again = bootstrap_ci(_cindex, t, e, risk, n_boot=120, seed=1)
    pd.testing.assert_frame_equal(ci, again)


def test_bootstrap_resamples_whole_patients():
    groups = np.repeat(np.arange(50), 3)  # three rows per patient
    rows = np.arange(groups.size)

    def whole_patients(r):
        counts = pd.Series(groups[r]).value_counts()
        per_row = pd.Series(r).value_counts()
        # every drawn patient brings all 3 rows, each row as often as its patient was drawn
        ok = (counts % 3 == 0).all() and per_row.groupby(groups[per_row.index]).nunique().eq(
            1
        ).all()
        return {"ok": float(ok), "n": float(len(r))}

    ci = bootstrap_ci(whole_patients, rows, groups=groups, n_boot=30, seed=0)
    assert ci.loc["ok", "ci_low"] == 1.0
    assert ci.loc["n", "ci_low"] == ci.loc["n", "ci_high"] == groups.size


# --- cross-validation ------------------------------------------------------------------


class _SpyModel(KnownHazardModel):
    """Records which patients it was trained and asked to predict on."""

    log: list = []

    def fit(self, X, time, event):
        self.train_ids_ = set(X["pid"])
        return super().fit(X, time, event)

    def predict_cif(self, X, times, cause=1):
        _SpyModel.log.append((self.train_ids_, set(X["pid"])))
        return super().predict_cif(X, times, cause)


def _stacked(n_patients: int, seed: int):
    """Two to three rows per patient, as in a super-landmark data set."""
    rng = np.random.default_rng(seed)
    reps = rng.integers(2, 4, n_patients)
    pid = np.repeat(np.arange(n_patients), reps)
    x, t, e = simulate(pid.size, seed=seed)
    return pd.DataFrame({"x": x, "pid": pid}), t, e, pid


def test_cross_validation_never_splits_a_patient():
    X, t, e, pid = _stacked(120, seed=13)
    _SpyModel.log = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        cv = cross_validate(
            _SpyModel, X, t, e, groups=pid, n_splits=4, n_repeats=2, seed=3, n_boot=20
        )
    assert len(_SpyModel.log) == 8
    for train_ids, test_ids in _SpyModel.log:
        assert not train_ids & test_ids
    for r in range(2):
        assert np.all(cv.test_fold[r] >= 0)  # every row tested once per repeat
        assert pd.Series(cv.test_fold[r]).groupby(pid).nunique().eq(1).all()
    assert np.all(np.isfinite(cv.oof_cif))
    assert cv.folds.shape[0] == 8


def test_cross_validation_summary_and_reproducibility():
    x, t, e = simulate(400, seed=14)
    X = pd.DataFrame({"x": x})
    kwargs = dict(n_splits=4, n_repeats=1, seed=5, n_boot=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        cv = cross_validate(KnownHazardModel, X, t, e, **kwargs)
        again = cross_validate(KnownHazardModel, X, t, e, **kwargs)
    pd.testing.assert_frame_equal(cv.summary, again.summary)
    s = cv.summary
    for metric in ("c_index", "c_index_ipcw", "auc_tau", "brier_tau", "ipa_tau", "ibs"):
        assert s.loc[metric, "ci_low"] <= s.loc[metric, "pooled"] <= s.loc[metric, "ci_high"]
    # the model predicts the truth: pooled out-of-fold predictions equal it
    np.testing.assert_allclose(cv.oof_cif[0], true_cif(x, cv.times))
    assert s.loc["ipa_tau", "pooled"] > 0 and s.loc["c_index", "mean"] > 0.6
    # stratified by event code: each fold has about the same share of relapses
    shares = pd.Series(e == 1).groupby(cv.test_fold[0]).mean()
    assert shares.max() - shares.min() < 0.05
    # the null's out-of-fold predictions are the training folds' Aalen–Johansen
    from relapse_ml.models.aalen_johansen import aalen_johansen

    test0 = cv.test_fold[0] == 0
    np.testing.assert_allclose(
        cv.oof_null_cif[0, test0][0], aalen_johansen(t[~test0], e[~test0], cv.times)
    )


def test_on_stacked_landmarks_the_null_is_the_incidence_at_each_visit():
    """Super-landmark rows: each test row's null prediction is the Aalen–Johansen of the
    training rows of its own landmark, so a model that only knows the visit has IPA ≈ 0."""
    from relapse_ml.models import AalenJohansen
    from relapse_ml.models.aalen_johansen import aalen_johansen

    rng = np.random.default_rng(21)
    n = 600
    day = np.repeat([60.0, 180.0, 365.0], n // 3)
    t = rng.exponential(np.where(day == 365.0, 3000.0, 600.0))  # later visits: fewer events
    e = rng.choice([1, 2], size=n, p=[0.7, 0.3])
    c = rng.uniform(100, 1500, n)
    e, t = np.where(t <= c, e, 0), np.minimum(t, c)
    X = pd.DataFrame({"landmark_day": day})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        cv = cross_validate(AalenJohansen, X, t, e, n_splits=3, seed=2, n_boot=0)
    for k in range(3):
        test = cv.test_fold[0] == k
        for d in (60.0, 365.0):
            rows = test & (day == d)
            want = aalen_johansen(t[~test & (day == d)], e[~test & (day == d)], cv.times)
            np.testing.assert_allclose(cv.oof_null_cif[0, rows][0], want)
    # the visit-only model IS the null: its predictions equal the null's, IPA 0
    np.testing.assert_allclose(cv.oof_cif[0], cv.oof_null_cif[0])
    assert cv.summary.loc["ipa_tau", "pooled"] == pytest.approx(0.0, abs=1e-12)


def test_fold_labels_are_the_splits_cross_validate_makes():
    from relapse_ml.evaluation.crossval import fold_labels

    x, t, e = _administrative(240, seed=5)
    X = pd.DataFrame({"x": x})
    groups = np.repeat(np.arange(120), 2)  # two rows per patient
    labels = fold_labels(e, groups, n_splits=4, n_repeats=2, seed=3)
    assert labels.shape == (2, 240) and set(np.unique(labels)) == {0, 1, 2, 3}
    for r in range(2):  # a patient's rows share a fold
        assert np.all(labels[r, ::2] == labels[r, 1::2])
    kw = {"groups": groups, "tau": 600.0, "n_splits": 4, "n_repeats": 2, "seed": 3, "n_boot": 0}
    own = cross_validate(KnownHazardModel, X, t, e, **kw)
    given = cross_validate(KnownHazardModel, X, t, e, folds=labels, **kw)
    np.testing.assert_array_equal(own.test_fold, labels)
    np.testing.assert_allclose(own.oof_cif, given.oof_cif)
    pd.testing.assert_frame_equal(own.folds, given.folds)


def test_fold_labels_keep_patients_together_and_stratify_their_events():
    from relapse_ml.evaluation.crossval import fold_labels

    rng = np.random.default_rng(0)
    n_patients = 3000
    outcome = rng.choice([0, 1, 2], n_patients, p=[0.6, 0.3, 0.1])
    n_rows = rng.integers(1, 6, n_patients)  # stacked landmarks: 1-5 rows per patient
    groups = np.repeat(np.arange(n_patients), n_rows)
    # a row carries the patient's event, or 0 when its horizon ends first
    event = np.where(rng.random(groups.size) < 0.7, outcome[groups], 0)
    labels = fold_labels(event, groups, n_splits=5, n_repeats=2, seed=1)
    assert labels.min() == 0 and labels.max() == 4
    for r in range(2):
        per_patient = pd.Series(labels[r]).groupby(groups).nunique()
        assert (per_patient == 1).all()
        stratum = pd.Series(event).groupby(groups).max().to_numpy()
        fold_of_patient = pd.Series(labels[r]).groupby(groups).first().to_numpy()
        for code in (0, 1, 2):
            counts = np.bincount(fold_of_patient[stratum == code], minlength=5)
            assert counts.max() - counts.min() <= 1  # exact stratification by patient
    assert not np.array_equal(labels[0], labels[1])
