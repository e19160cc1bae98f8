"""Benefit statistics against brute-force calculations: IPCW outcome and DR score, Holm and
Benjamini–Hochberg, TOC / AUTOC / Qini, c-for-benefit, the BLP test, Aalen–Johansen by arm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from relapse_ml.benefit import groups as G
from relapse_ml.benefit import heterogeneity as H
from relapse_ml.benefit.arm_stats import (
    benjamini_hochberg,
    holm,
    incidence_by_arm,
    interaction_test,
    outcome_for,
)
from relapse_ml.benefit.pseudo import dr_scores, ipcw_outcome, status_known


def _outcome(n: int, seed: int):
    rng = np.random.default_rng(seed)
    # integer days so that events and censorings tie, exercising the G(T-) convention
    time = rng.integers(1, 40, n).astype(float)
    event = rng.choice([0, 1, 2], size=n, p=[0.4, 0.35, 0.25])
    return time, event


def _censoring_before_bruteforce(time, event, t):
    """G(t−) = prod over censoring times s < t of (1 − c_s / r_s); at a tie the events leave
    the risk set before the censorings (r_s counts those with T > s, or T = s censored)."""
    g = 1.0
    for s in np.unique(time[event == 0]):
        if s >= t:
            break
        c = np.sum((time == s) & (event == 0))
        r = np.sum(time > s) + c
        g *= 1 - c / r
    return g


def test_ipcw_outcome_and_dr_score_match_a_loop():
    time, event = _outcome(60, 0)
    tau = 30.0
    arm = np.random.default_rng(1).integers(0, 2, time.size)
    mu0 = np.random.default_rng(2).uniform(0, 0.6, time.size)
    mu1 = np.random.default_rng(3).uniform(0, 0.6, time.size)
    for causes in ((1,), (1, 2)):
        got_y = ipcw_outcome(time, event, tau, causes=causes)
        want_y = np.zeros(time.size)
        for i in range(time.size):
            if event[i] in causes and time[i] <= tau:
                want_y[i] = 1.0 / _censoring_before_bruteforce(time, event, time[i])
        np.testing.assert_allclose(got_y, want_y, rtol=1e-12)
        want_phi = np.array(
            [
                mu0[i]
                - mu1[i]
                + ((want_y[i] - mu0[i]) / 0.5 if arm[i] == 0 else -(want_y[i] - mu1[i]) / 0.5)
                for i in range(time.size)
            ]
        )
        np.testing.assert_allclose(dr_scores(mu0, mu1, got_y, arm, 0.5), want_phi, rtol=1e-12)


def test_mean_ipcw_outcome_is_the_aalen_johansen_incidence():
    # with the censoring Kaplan–Meier from the same data, (1/n) Σ Y*_i is the Aalen–Johansen
    # estimate itself (an identity): a check independent of the loop above
    from relapse_ml.models import aalen_johansen

    for seed in range(3):
        time, event = _outcome(80, seed)
        for tau in (10.0, 25.5, 39.0):
            y = ipcw_outcome(time, event, tau, causes=(1,))
            assert y.mean() == pytest.approx(
                aalen_johansen(time, event, [tau], cause=1)[0], abs=1e-12
            )


def test_status_known():
    time = np.array([5.0, 5.0, 10.0, 20.0])
    event = np.array([1, 0, 2, 0])
    assert status_known(time, event, 8.0).tolist() == [True, False, True, True]


def _holm_bruteforce(p):
    """Adjusted p_i = the smallest level at which Holm's step-down procedure rejects H_i."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    levels = sorted({min(1.0, (m - j) * p[order[j]]) for j in range(m)} | {1.0})
    adj = np.ones(m)
    for a in reversed(levels):
        for j, i in enumerate(order):  # step down: stop at the first failure
            if (m - j) * p[i] > a + 1e-12:  # the same product as the level: no rounding
                break
            adj[i] = a
    return adj


def _bh_bruteforce(p):
    """Adjusted p_i = the smallest level at which the BH step-up procedure rejects H_i."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    levels = sorted({min(1.0, m * p[order[j]] / (j + 1)) for j in range(m)} | {1.0})
    adj = np.ones(m)
    for a in reversed(levels):
        k = max([j + 1 for j in range(m) if m * p[order[j]] / (j + 1) <= a + 1e-12], default=0)
        for i in order[:k]:
            adj[i] = a
    return adj


@pytest.mark.parametrize("seed", range(6))
def test_holm_and_bh_match_the_procedures(seed):
    rng = np.random.default_rng(seed)
    p = np.round(rng.uniform(0, 0.2, 8) ** 2 * 5, 4)  # small values, some ties
    np.testing.assert_allclose(holm(p), _holm_bruteforce(p), atol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg(p), _bh_bruteforce(p), atol=1e-12)


def test_multiplicity_leaves_nan_out():
    p = np.array([0.01, np.nan, 0.04])
    np.testing.assert_allclose(holm(p), [0.02, np.nan, 0.04])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, np.nan, 0.04])


def _toc_bruteforce(priority, scores, j):
    """TOC(j/n) with ties: the expected mean over every order of the tied block at the cut."""
    order = np.argsort(-priority, kind="stable")
    threshold = priority[order[j - 1]]
    above = scores[priority > threshold]
    tied = scores[priority == threshold]
    need = j - above.size
    top_mean = (above.sum() + need * tied.mean()) / j
    return top_mean - scores.mean()


def test_toc_autoc_qini_on_a_constructed_case():
    n = 200
    scores = np.r_[np.ones(n // 2), np.zeros(n // 2)]
    priority = np.r_[np.linspace(2, 1, n // 2), np.linspace(0, -1, n // 2)]
    q, toc = H.toc_curve(priority, scores)
    want = np.array([min(1.0, (n / 2) / j) - 0.5 for j in range(1, n + 1)])
    np.testing.assert_allclose(toc, want, atol=1e-12)
    r = H.rate(priority, scores)
    assert r["autoc"] == pytest.approx(want.mean(), abs=1e-12)
    assert r["qini"] == pytest.approx(np.mean(q * want), abs=1e-12)
    # the continuous limit: ∫0^1 TOC = 0.5·ln 2
    assert r["autoc"] == pytest.approx(0.5 * np.log(2), abs=0.01)
    # the reversed ranking gives the mirror image
    assert H.rate(-priority, scores)["autoc"] < -0.3


def test_toc_with_ties_matches_bruteforce_and_ignores_input_order():
    rng = np.random.default_rng(4)
    priority = rng.integers(0, 5, 40).astype(float)
    scores = rng.normal(size=40)
    _, toc = H.toc_curve(priority, scores)
    want = [_toc_bruteforce(priority, scores, j) for j in range(1, 41)]
    np.testing.assert_allclose(toc, want, atol=1e-12)
    perm = rng.permutation(40)
    np.testing.assert_allclose(H.toc_curve(priority[perm], scores[perm])[1], toc, atol=1e-12)
    # a constant ranking has nothing to find
    assert H.rate(np.zeros(40), scores)["autoc"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(H.rate_test(np.zeros(40), scores)["autoc_p"])


def test_rate_weights_make_the_statistics_linear_in_the_scores():
    rng = np.random.default_rng(11)
    priority = rng.integers(0, 8, 50).astype(float)  # with ties
    scores = rng.normal(size=50)
    w = H.rate_weights(priority)
    r = H.rate(priority, scores)
    assert w["autoc"] @ scores == pytest.approx(r["autoc"], abs=1e-12)
    assert w["qini"] @ scores == pytest.approx(r["qini"], abs=1e-12)
    # the closed-form variance against the variance over many redraws of the scores
    draws = rng.normal(size=(4000, 50))
    autoc = np.array([H.rate(priority, d)["autoc"] for d in draws[:400]])
    se = H.rate_test(priority, draws[0])["autoc_se"]
    assert se == pytest.approx(np.sqrt(np.sum(w["autoc"] ** 2)), rel=0.25)
    assert autoc.std() == pytest.approx(np.sqrt(np.sum(w["autoc"] ** 2)), rel=0.1)


def test_rate_test_finds_real_heterogeneity_and_not_noise():
    rng = np.random.default_rng(5)
    x = rng.normal(size=400)
    scores = 0.5 * x + rng.normal(size=400)
    for method in ("linear", "bootstrap"):
        assert H.rate_test(x, scores, n_boot=200, seed=1, method=method)["autoc_p"] < 0.01
        noise = rng.normal(size=400)
        assert H.rate_test(noise, scores, n_boot=200, seed=1, method=method)["autoc_p"] > 0.05


def test_blp_matches_least_squares_and_hc3_by_hand():
    rng = np.random.default_rng(6)
    tau_hat = rng.uniform(0, 0.4, 300)
    phi = tau_hat + rng.normal(scale=0.5, size=300)
    got = H.blp_test(tau_hat, phi)
    D = np.c_[np.full(300, tau_hat.mean()), tau_hat - tau_hat.mean()]
    coef, *_ = np.linalg.lstsq(D, phi, rcond=None)
    assert got["alpha"] == pytest.approx(coef[0]) and got["beta"] == pytest.approx(coef[1])
    XtX = np.linalg.inv(D.T @ D)
    e = phi - D @ coef
    meat = np.zeros((2, 2))
    for i in range(300):
        h = D[i] @ XtX @ D[i]
        meat += np.outer(D[i], D[i]) * e[i] ** 2 / (1 - h) ** 2
    se = np.sqrt(np.diag(XtX @ meat @ XtX))
    assert got["beta_se"] == pytest.approx(se[1]) and got["alpha_se"] == pytest.approx(se[0])
    assert got["beta_p"] == pytest.approx(stats.t.sf(coef[1] / se[1], 298))
    assert np.isnan(H.blp_test(np.full(10, 0.1), rng.normal(size=10))["beta"])


def test_concordance_and_c_for_benefit():
    rng = np.random.default_rng(7)
    pred = rng.normal(size=30)
    pred[:5] = pred[5]  # ties
    obs = rng.integers(-1, 2, 30).astype(float)
    conc = comp = 0.0
    for i in range(30):
        for j in range(30):
            if obs[i] < obs[j]:
                comp += 1
                conc += 1.0 if pred[j] > pred[i] else 0.5 if pred[j] == pred[i] else 0.0
    c, n = G.concordance(pred, obs)
    assert n == comp and c == pytest.approx(conc / comp)
    # a benefit that only the top-predicted pairs have gives c-for-benefit 1
    n = 40
    predicted = np.r_[np.arange(20), np.arange(20)].astype(float)
    arm = np.r_[np.zeros(20), np.ones(20)].astype(int)
    time = np.full(n, 100.0)
    event = np.zeros(n, int)
    top_control = (arm == 0) & (predicted >= 15)
    time[top_control], event[top_control] = 10.0, 1
    res = G.c_for_benefit(predicted, time, event, arm, tau=50.0)
    assert res["n_pairs"] == 20 and res["c_for_benefit"] == pytest.approx(1.0)
    # patients censored before tau are left out and counted
    time[0], event[0] = 5.0, 0
    assert G.c_for_benefit(predicted, time, event, arm, tau=50.0)["n_unknown_status"] == 1


def test_incidence_by_arm_and_interaction_test():
    from lifelines import CoxPHFitter

    from relapse_ml.models import aalen_johansen

    time, event = _outcome(120, 8)
    arm = np.random.default_rng(9).integers(0, 2, 120)
    r = incidence_by_arm(time, event, arm, 30.0)
    f0 = aalen_johansen(time[arm == 0], event[arm == 0], [30.0])[0]
    f1 = aalen_johansen(time[arm == 1], event[arm == 1], [30.0])[0]
    assert r["diff"] == pytest.approx(f0 - f1) and r["diff_low"] < r["diff"] < r["diff_high"]
    # relapse or death as one outcome: its incidence is 1 - Kaplan–Meier of any event
    ev = outcome_for(event, "rfs")
    assert set(np.unique(ev)) <= {0, 1}
    # a two-level interaction: the Wald p equals lifelines' own p of the product term
    level = pd.Series(np.where(np.random.default_rng(10).random(120) < 0.5, "a", "b"))
    got = interaction_test(time, event, arm, level)
    df = pd.DataFrame(
        {"t": time, "e": (event == 1).astype(int), "arm": arm, "g": (level == "b").astype(float)}
    )
    df["axg"] = df["arm"] * df["g"]
    fit = CoxPHFitter().fit(df, "t", "e")
    assert got["df"] == 1 and got["p"] == pytest.approx(fit.summary.loc["axg", "p"], rel=1e-6)
