"""Evaluation metrics: scikit-survival agreement, brute-force competing-risk checks, IPCW."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _helpers_evaluation import simulate, tied, true_cif  # noqa: E402

from relapse_ml.evaluation import (  # noqa: E402
    brier_score,
    censoring_km,
    concordance_index_ipcw,
    concordance_index_wolbers,
    cumulative_dynamic_auc,
    index_of_prediction_accuracy,
    integrated_brier_score,
    ipcw_weights,
    null_prediction,
)

SEEDS = [0, 1, 2, 3]


def _survival_data(seed: int, n_train: int = 250, n_test: int = 200, parity: bool = False):
    """Integer times with many ties, no competing event; risks rounded (tied).

    parity: training censorings on even days and test events on odd days, so no test
        event time coincides with a training censoring (then G(T−) = G(T)).
    """
    rng = np.random.default_rng(seed)

    def draw(n):
        t = rng.integers(1, 40, n).astype(float)
        e = (rng.random(n) < 0.6).astype(int)
        return t, e

    t_tr, e_tr = draw(n_train)
    t_te, e_te = draw(n_test)
    if parity:
        t_tr[e_tr == 0] = 2 * np.ceil(t_tr[e_tr == 0] / 2)
        t_te[e_te == 1] = 2 * np.floor(t_te[e_te == 1] / 2) + 1
    t_tr[0], e_tr[0] = 60.0, 0  # training follow-up covers the test data (sksurv requires it)
    risk = np.round(rng.random(n_test), 1)
    pred = np.round(rng.random((n_test, 4)), 1)
    return t_tr, e_tr, t_te, e_te, risk, pred


def _surv(event, time):
    from sksurv.util import Surv

    return Surv.from_arrays(np.asarray(event) > 0, time)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("parity", [False, True])
def test_agrees_with_sksurv_without_competing_events(seed, parity):
    from sksurv import metrics

    t_tr, e_tr, t_te, e_te, risk, pred = _survival_data(seed, parity=parity)
    y_tr, y_te = _surv(e_tr, t_tr), _surv(e_te, t_te)
    times = np.array([5.0, 10.0, 20.0, 30.0])
    # sksurv reads G at the event time; ours by default just before it. They agree when
    # no test event falls on a training censoring time (parity), else with at_event="at".
    conventions = ["at", "before"] if parity else ["at"]
    for at_event in conventions:
        kw = {"at_event": at_event}
        for tau in (20.5, None):
            expected = metrics.concordance_index_ipcw(y_tr, y_te, risk, tau=tau)[0]
            got = concordance_index_ipcw(t_tr, e_tr, t_te, e_te, risk, tau, **kw)
            assert got == pytest.approx(expected, abs=1e-6)
        auc, mean_auc = metrics.cumulative_dynamic_auc(y_tr, y_te, pred, times)
        got = cumulative_dynamic_auc(t_tr, e_tr, t_te, e_te, pred, times, **kw)
        np.testing.assert_allclose(got.auc, auc, atol=1e-6)
        assert got.mean_auc == pytest.approx(mean_auc, abs=1e-6)
        _, bs = metrics.brier_score(y_tr, y_te, 1.0 - pred, times)
        np.testing.assert_allclose(
            brier_score(t_tr, e_tr, t_te, e_te, pred, times, **kw), bs, atol=1e-6
        )
        ibs = metrics.integrated_brier_score(y_tr, y_te, 1.0 - pred, times)
        assert integrated_brier_score(t_tr, e_tr, t_te, e_te, pred, times, **kw) == pytest.approx(
            ibs, abs=1e-6
        )
    harrell = metrics.concordance_index_censored(e_te > 0, t_te, risk)[0]
    assert concordance_index_wolbers(t_te, e_te, risk) == pytest.approx(harrell, abs=1e-6)


def test_conventions_differ_only_on_event_censoring_ties():
    t_tr, e_tr, t_te, e_te, risk, _ = _survival_data(0)
    before = concordance_index_ipcw(t_tr, e_tr, t_te, e_te, risk, 20.5)
    at = concordance_index_ipcw(t_tr, e_tr, t_te, e_te, risk, 20.5, at_event="at")
    assert before != pytest.approx(at, abs=1e-9)  # the data have such ties


# --- censoring distribution and weights --------------------------------------------


def _brute_censoring_km(time, event, t):
    """G(t) by the definition: product over censoring times s <= t of 1 - c_s / r_s,
    r_s = number still under observation for censoring at s (events at s leave first)."""
    g = 1.0
    for s in np.unique(time):
        if s > t:
            break
        c = np.sum((time == s) & (event == 0))
        r = np.sum(time > s) + c
        g *= 1.0 - c / r
    return g


@pytest.mark.parametrize("seed", SEEDS)
def test_censoring_km_matches_definition_and_sksurv(seed):
    from sksurv.nonparametric import CensoringDistributionEstimator

    rng = np.random.default_rng(seed)
    t = rng.integers(1, 15, 80).astype(float)
    e = rng.integers(0, 3, 80)
    G = censoring_km(t, e)
    grid = np.arange(0.5, 16, 0.5)
    brute = [_brute_censoring_km(t, e, s) for s in grid]
    np.testing.assert_allclose(G.at(grid), brute, atol=1e-12)
    # the left limit: G(s−) = G(s − ε) on this integer lattice
    np.testing.assert_allclose(G.before(grid), G.at(grid - 1e-9), atol=1e-12)
    reference = CensoringDistributionEstimator().fit(_surv(e, t))
    inside = grid <= t.max()
    np.testing.assert_allclose(G.at(grid[inside]), reference.predict_proba(grid[inside]))
    assert G.at(1e6) == G.survival_[-1]  # flat beyond the last time


def test_ipcw_weights_by_definition_and_mean_one():
    x, t, e = simulate(4000, seed=5, censor_max=3000.0)
    G = censoring_km(t, e)
    tau = 500.0
    w = ipcw_weights(t, e, tau, G)
    assert np.all(w[(t <= tau) & (e == 0)] == 0)
    np.testing.assert_allclose(w[t > tau], 1.0 / G.at(tau))
    ev = (t <= tau) & (e != 0)
    np.testing.assert_allclose(w[ev], 1.0 / G.before(t[ev]))
    # E[W] = 1 under independent censoring: the weights restore the censored mass
    assert np.mean(w) == pytest.approx(1.0, abs=0.03)
    # without censoring every weight is exactly 1
    w_full = ipcw_weights(t, np.where(e == 0, 1, e), tau, censoring_km(t, np.where(e == 0, 1, e)))
    assert np.all(w_full == 1.0)
    # an array of horizons gives one column per horizon
    many = ipcw_weights(t, e, [100.0, tau], G)
    np.testing.assert_allclose(many[:, 1], w)


# --- competing risks by brute force -------------------------------------------------


def _small_competing(seed: int):
    rng = np.random.default_rng(seed)
    n = 40
    t = rng.integers(1, 12, n).astype(float)
    e = rng.choice([0, 1, 2], size=n, p=[0.3, 0.4, 0.3])
    risk = np.round(rng.random(n), 1)
    return t, e, risk


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wolbers_concordance_by_brute_force(seed):
    t, e, risk = _small_competing(seed)
    t_tr, e_tr, _ = _small_competing(seed + 100)
    G = censoring_km(t_tr, e_tr)
    tau = 8.0
    num = den = num_w = den_w = 0.0
    for i in range(t.size):
        if not (e[i] == 1 and t[i] <= tau):
            continue
        for j in range(t.size):
            if t[j] > t[i] or (t[j] == t[i] and e[j] == 0):
                w = 1.0 / G.before(t[i]) ** 2
            elif e[j] == 2 and t[j] <= t[i]:
                w = 1.0 / (G.before(t[i]) * G.before(t[j]))
            else:
                continue
            s = 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
            num, den = num + s, den + 1
            num_w, den_w = num_w + w * s, den_w + w
    assert concordance_index_wolbers(t, e, risk, tau) == pytest.approx(num / den, abs=1e-12)
    got = concordance_index_ipcw(t_tr, e_tr, t, e, risk, tau)
    assert got == pytest.approx(num_w / den_w, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_brier_by_brute_force_with_competing_events(seed):
    t, e, _ = _small_competing(seed)
    t_tr, e_tr, _ = _small_competing(seed + 100)
    rng = np.random.default_rng(seed)
    times = np.array([3.0, 6.0, 9.0])
    pred = np.round(rng.random((t.size, times.size)), 1)
    G = censoring_km(t_tr, e_tr)
    auc_brute, bs_brute = [], []
    for k, s in enumerate(times):
        num = den = bs = 0.0
        for i in range(t.size):
            if t[i] <= s and e[i] != 0:
                w_i = 1.0 / G.before(t[i])
            elif t[i] > s:
                w_i = 1.0 / G.at(s)
            else:
                w_i = 0.0
            y_i = float(t[i] <= s and e[i] == 1)
            bs += w_i * (y_i - pred[i, k]) ** 2
            if not (t[i] <= s and e[i] == 1):
                continue
            for j in range(t.size):
                if t[j] > s:
                    w_j = 1.0 / G.at(s)
                elif e[j] == 2:
                    w_j = 1.0 / G.before(t[j])
                else:
                    continue
                c = 1.0 if pred[i, k] > pred[j, k] else 0.5 if pred[i, k] == pred[j, k] else 0.0
                num, den = num + w_i * w_j * c, den + w_i * w_j
        auc_brute.append(num / den)
        bs_brute.append(bs / t.size)
    got = cumulative_dynamic_auc(t_tr, e_tr, t, e, pred, times)
    np.testing.assert_allclose(got.auc, auc_brute, atol=1e-12)
    np.testing.assert_allclose(brier_score(t_tr, e_tr, t, e, pred, times), bs_brute, atol=1e-12)


def test_brier_of_aalen_johansen_null_on_its_training_data():
    """Against sksurv's Aalen–Johansen and censoring KM (G(T−) read just below T)."""
    from sksurv.nonparametric import (
        CensoringDistributionEstimator,
        cumulative_incidence_competing_risks,
    )

    x, t, e = simulate(300, seed=7)
    t = tied(t)  # whole months: ties everywhere
    times = np.array([90.0, 360.0, 720.0])
    null = null_prediction(t, e, t.size, times)
    grid, cif = cumulative_incidence_competing_risks(e, t)
    f1 = cif[1][np.searchsorted(grid, times, side="right") - 1]
    np.testing.assert_allclose(null[0], f1, atol=1e-12)

    G = CensoringDistributionEstimator().fit(_surv(e, t))
    expected = []
    for s, f in zip(times, f1, strict=True):
        w = np.where((t <= s) & (e != 0), 1.0 / G.predict_proba(t - 1e-6), 0.0)
        w = w + np.where(t > s, 1.0 / G.predict_proba(np.array([s]))[0], 0.0)
        expected.append(np.mean(w * (((t <= s) & (e == 1)) - f) ** 2))
    np.testing.assert_allclose(brier_score(t, e, t, e, null, times), expected, atol=1e-12)
    # the null model's IPA against itself is 0
    np.testing.assert_allclose(index_of_prediction_accuracy(t, e, t, e, null, times), 0.0)


def test_true_risks_beat_random_ones():
    x_tr, t_tr, e_tr = simulate(600, seed=11)
    x, t, e = simulate(600, seed=12)
    times = np.array([180.0, 365.0, 730.0])
    truth = true_cif(x, times)
    noise = np.random.default_rng(0).uniform(0.0, 0.6, truth.shape)
    args = (t_tr, e_tr, t, e)
    assert concordance_index_wolbers(t, e, truth[:, 1], 365.0) > 0.65
    assert concordance_index_wolbers(t, e, noise[:, 1], 365.0) == pytest.approx(0.5, abs=0.06)
    assert concordance_index_ipcw(*args, truth[:, 1], 365.0) > concordance_index_ipcw(
        *args, noise[:, 1], 365.0
    )
    assert np.all(cumulative_dynamic_auc(*args, truth, times).auc > 0.65)
    assert np.all(brier_score(*args, truth, times) < brier_score(*args, noise, times))
    assert np.all(index_of_prediction_accuracy(*args, truth, times) > 0.02)
    assert np.all(index_of_prediction_accuracy(*args, noise, times) < 0)
