"""Breslow baselines against scikit-survival and brute force; the CIF combiner's invariants."""

from __future__ import annotations

import numpy as np

from relapse_ml.models import aalen_johansen, breslow_baseline, cumulative_incidence_from_hazards
from tests._helpers_models import simulate_cause_specific


def test_breslow_cumulative_hazard_matches_scikit_survival():
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    X, time, event = simulate_cause_specific(400, seed=0)
    time = np.ceil(time / 20.0) * 20.0  # ties, which both estimators count the Breslow way
    status = event == 1
    sk = CoxPHSurvivalAnalysis().fit(X, Surv.from_arrays(status, time))
    margin = X.to_numpy() @ sk.coef_
    grid = np.unique(time[status])
    expected = sk.predict_cumulative_hazard_function(X.iloc[:20], return_array=True)
    sk_times = sk.unique_times_ if hasattr(sk, "unique_times_") else sk.cum_baseline_hazard_.x
    expected = np.stack([np.interp(grid, sk_times, row) for row in expected])  # sksurv's own grid
    base = breslow_baseline(time, status, margin)
    got = base.cumulative_hazard(margin[:20], grid)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_breslow_with_entry_and_weights_matches_a_loop():
    rng = np.random.default_rng(4)
    n = 60
    entry = rng.uniform(0, 5, n)
    stop = entry + rng.integers(1, 6, n)  # ties on stop
    status = rng.random(n) < 0.5
    weight = rng.uniform(0.2, 1.0, n)
    margin = rng.normal(size=n)
    base = breslow_baseline(stop, status, margin, entry=entry, weights=weight)
    for t, inc in zip(base.times, base.hazard_increments(np.zeros(1))[0], strict=True):
        at_risk = sum(
            w * np.exp(m)
            for e, s, w, m in zip(entry, stop, weight, margin, strict=True)
            if e < t <= s
        )
        deaths = sum(w for s, d, w in zip(stop, status, weight, strict=True) if d and s == t)
        assert np.isclose(inc, deaths / at_risk, rtol=1e-10)


def test_combiner_with_equal_margins_is_aalen_johansen_with_ties():
    _, time, event = simulate_cause_specific(300, seed=2)
    time = np.ceil(time / 50.0) * 50.0
    zero = np.zeros(time.size)
    b1 = breslow_baseline(time, event == 1, zero)
    b2 = breslow_baseline(time, event == 2, zero)
    times = np.array([10.0, 50.0, 120.0, 400.0, 1000.0, 5000.0])
    f1, f2 = cumulative_incidence_from_hazards(b1, np.zeros(3), b2, np.zeros(3), times)
    np.testing.assert_allclose(
        f1, np.tile(aalen_johansen(time, event, times, 1), (3, 1)), atol=1e-12
    )
    np.testing.assert_allclose(
        f2, np.tile(aalen_johansen(time, event, times, 2), (3, 1)), atol=1e-12
    )


def test_combiner_matches_a_loop_over_event_times():
    rng = np.random.default_rng(5)
    _, time, event = simulate_cause_specific(80, seed=5)
    m1, m2 = rng.normal(size=80), rng.normal(size=80)
    b1, b2 = breslow_baseline(time, event == 1, m1), breslow_baseline(time, event == 2, m2)
    x1, x2, t = 0.7, -0.4, float(np.median(time))
    f1, f2 = cumulative_incidence_from_hazards(
        b1, np.array([x1]), b2, np.array([x2]), np.array([t])
    )
    surv, cif1, cif2 = 1.0, 0.0, 0.0
    for s in sorted(set(time[event > 0])):
        if s > t:
            break
        at_risk = time >= s
        d1, d2 = np.sum((time == s) & (event == 1)), np.sum((time == s) & (event == 2))
        h1 = d1 / np.exp(m1[at_risk]).sum() * np.exp(x1)
        h2 = d2 / np.exp(m2[at_risk]).sum() * np.exp(x2)
        cif1, cif2, surv = cif1 + surv * h1, cif2 + surv * h2, surv * (1 - h1 - h2)
    np.testing.assert_allclose([f1[0, 0], f2[0, 0]], [cif1, cif2], rtol=1e-10)


def test_combiner_stays_coherent_for_extreme_margins():
    _, time, event = simulate_cause_specific(200, seed=6)
    zero = np.zeros(time.size)
    b1, b2 = breslow_baseline(time, event == 1, zero), breslow_baseline(time, event == 2, zero)
    m1 = np.array([-30.0, 0.0, 8.0, 30.0])
    m2 = np.array([-30.0, 8.0, 0.0, 30.0])
    times = np.linspace(0, time.max(), 40)
    f1, f2 = cumulative_incidence_from_hazards(b1, m1, b2, m2, times)
    assert (f1 >= 0).all() and (f2 >= 0).all()
    assert (f1 + f2 <= 1 + 1e-12).all()
    assert (np.diff(f1, axis=1) >= -1e-15).all() and (np.diff(f2, axis=1) >= -1e-15).all()
    assert f1[0, -1] < 1e-6 and f2[0, -1] < 1e-6  # nearly no hazard
    # the guard on the linear predictor: a margin above the largest training margin (0 here)
    # is read as that margin, never as a hazard ratio of exp(30)
    g1, g2 = cumulative_incidence_from_hazards(b1, np.zeros(1), b2, np.zeros(1), times)
    np.testing.assert_allclose(f1[3], g1[0], rtol=1e-12)
    np.testing.assert_allclose(f2[3], g2[0], rtol=1e-12)
    assert f1[2, -1] < g1[0, -1] + 1e-12  # a margin of 8 for relapse is capped at 0 too


def test_hazards_above_one_per_step_take_all_remaining_mass():
    _, time, event = simulate_cause_specific(200, seed=6)
    m = np.full(time.size, 0.0)
    m[0] = 30.0  # one training patient with an enormous margin sets the offset
    b1, b2 = breslow_baseline(time, event == 1, m), breslow_baseline(time, event == 2, m)
    times = np.linspace(0, time.max(), 40)
    f1, f2 = cumulative_incidence_from_hazards(b1, np.array([30.0]), b2, np.array([30.0]), times)
    assert (f1 + f2 <= 1 + 1e-12).all()
    assert (np.diff(f1, axis=1) >= -1e-15).all()
