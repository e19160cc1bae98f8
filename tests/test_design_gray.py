"""Gray's test (relapse_ml.design.gray) against independent calculations."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.statistics import logrank_test

from relapse_ml.design.gray import gray_test


def _sample(rng, n, hr=1.0, competing=True, censoring=True, digits=None):
    g = rng.integers(0, 2, n)
    t1 = rng.exponential(1 / (0.5 * np.where(g == 1, hr, 1.0)))
    t2 = rng.exponential(1 / 0.4, n) if competing else np.full(n, np.inf)
    c = rng.uniform(0, 4, n) if censoring else np.full(n, np.inf)
    t = np.minimum(np.minimum(t1, t2), c)
    e = np.where(t == t1, 1, np.where(t == t2, 2, 0))
    return (np.round(t, digits) if digits else t), e, g


def _km_censoring(t, e):
    """Kaplan–Meier of the censoring time (events censor it), as a left-limit function."""
    order = np.argsort(t)
    ts, cs = t[order], (e[order] == 0)
    n = len(t)
    surv, jumps = 1.0, []
    for i in range(n):
        if cs[i]:
            surv *= 1 - 1 / (n - i)
        jumps.append((ts[i], surv))

    def left(x):  # G(x−)
        s = 1.0
        for tt, v in jumps:
            if tt < x:
                s = v
        return s

    return left


def test_score_equals_observed_minus_expected_with_weighted_risk_sets():
    """Independent score: subdistribution risk sets built patient by patient, keeping a
    patient with a competing event at weight G(t−)/G(T_i−) (Fine & Gray's weights)."""
    rng = np.random.default_rng(3)
    t, e, g = _sample(rng, 80, hr=1.5)
    G = {k: _km_censoring(t[g == k], e[g == k]) for k in (0, 1)}
    score = 0.0
    for s in np.unique(t[e == 1]):
        R = []
        for k in (0, 1):
            m = g == k
            tk, ek = t[m], e[m]
            w = (tk >= s).astype(float)
            prior = (tk < s) & (ek == 2)
            w[prior] = [G[k](s) / G[k](x) for x in tk[prior]]
            R.append(w.sum())
        d = ((t == s) & (e == 1)).sum()
        d0 = ((t == s) & (e == 1) & (g == 0)).sum()
        score += d0 - d * R[0] / (R[0] + R[1])
    assert gray_test(t, e, g)["score"] == pytest.approx(score, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_without_competing_events_it_is_the_logrank_test(seed):
    t, e, g = _sample(np.random.default_rng(seed), 300, hr=1.3, competing=False, digits=2)
    lr = logrank_test(t[g == 0], t[g == 1], e[g == 0], e[g == 1])
    r = gray_test(t, e, g)
    # same score; Gray's variance equals the hypergeometric one up to tie corrections
    assert r["chi2"] == pytest.approx(lr.test_statistic, rel=0.02)


def test_null_calibration_and_variance_by_simulation():
    """Under equal incidence the p-value rejects about 5% and the estimated variance is the
    Monte Carlo variance of the score (independent check of Gray's variance)."""
    rng = np.random.default_rng(11)
    res = [gray_test(*_sample(rng, 150, digits=2)) for _ in range(400)]
    p = np.array([r["p"] for r in res])
    scores = np.array([r["score"] for r in res])
    var = np.array([r["variance"] for r in res])
    assert 0.025 <= np.mean(p < 0.05) <= 0.085
    assert 0.85 <= scores.var() / var.mean() <= 1.15


def test_detects_a_difference_and_signs_the_score():
    t, e, g = _sample(np.random.default_rng(5), 600, hr=2.0)
    r = gray_test(t, e, g)
    assert r["p"] < 1e-4
    assert r["score"] < 0  # group 1 has the higher incidence, so group 0 has fewer events


def test_no_event_of_the_cause_is_nan_and_bad_groups_raise():
    t = np.arange(1.0, 11.0)
    assert np.isnan(gray_test(t, np.zeros(10, int), np.arange(10) % 2)["p"])
    with pytest.raises(ValueError):
        gray_test(t, np.ones(10, int), np.zeros(10))
