"""The O(n log² n) competing-risk C-index against the O(n²) pair definition and scikit-survival."""

from __future__ import annotations

import numpy as np
import pytest

from relapse_ml.evaluation import censoring_km, concordance_index_ipcw, concordance_index_wolbers
from relapse_ml.evaluation.concordance import _concordance, _concordance_pairs, _dominance_sums
from relapse_ml.evaluation.ipcw import _safe_inverse


def _cohort(rng, n, n_times=25, decimals=1):
    """Ties in times (integers), in risks (rounded), censorings on event times, two causes."""
    t = rng.integers(1, n_times, n).astype(float)
    e = rng.choice([0, 1, 2], size=n, p=[0.35, 0.35, 0.3])
    risk = np.round(rng.random(n), decimals)
    return t, e, risk


def test_dominance_sums_by_brute_force():
    rng = np.random.default_rng(0)
    pos, rank = rng.integers(0, 7, 60), rng.permutation(60)
    w = rng.random(60)
    q_pos, q_rank = rng.integers(0, 8, 40), rng.integers(0, 61, 40)
    got = _dominance_sums(pos, rank, w, q_pos, q_rank)
    want = [w[(pos < a) & (rank < b)].sum() for a, b in zip(q_pos, q_rank, strict=True)]
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_fast_equals_pair_definition(seed):
    rng = np.random.default_rng(seed)
    for n in (1, 2, 7, 60, 400):
        t, e, risk = _cohort(rng, n, decimals=1 + seed % 3)
        t_tr, e_tr, _ = _cohort(rng, 300)
        w_ipcw = _safe_inverse(censoring_km(t_tr, e_tr).before(t))
        w_random = rng.random(n) * (rng.random(n) > 0.2)  # zero weights too
        for tau in (None, 3.0, 12.0, 100.0):
            for w in (np.ones(n), w_ipcw, w_random):
                for cause in (1, 2):
                    fast = _concordance(t, e, risk, tau, cause, w, 1e-8)
                    slow = _concordance_pairs(t, e, risk, tau, cause, w, w, 1e-8)
                    if np.isnan(slow):
                        assert np.isnan(fast)
                    else:
                        assert fast == pytest.approx(slow, abs=1e-12)


def test_public_functions_equal_pair_definition_with_competing_events():
    rng = np.random.default_rng(7)
    t, e, risk = _cohort(rng, 500)
    t_tr, e_tr, _ = _cohort(rng, 500)
    ones = np.ones(t.size)
    assert concordance_index_wolbers(t, e, risk, 10.0) == pytest.approx(
        _concordance_pairs(t, e, risk, 10.0, 1, ones, ones, 1e-8), abs=1e-12
    )
    w = _safe_inverse(censoring_km(t_tr, e_tr).before(t))
    assert concordance_index_ipcw(t_tr, e_tr, t, e, risk, 10.0) == pytest.approx(
        _concordance_pairs(t, e, risk, 10.0, 1, w, w, 1e-8), abs=1e-12
    )


def test_risks_within_tied_tol_count_half():
    t = np.array([1.0, 2.0, 3.0])
    e = np.array([1, 0, 0])
    base = np.array([0.5, 0.5 - 5e-9, 0.4])  # patient 1 within tol of the case, 2 below
    assert concordance_index_wolbers(t, e, base) == pytest.approx(0.75)
    assert concordance_index_wolbers(t, e, base, tied_tol=0.0) == pytest.approx(1.0)


def test_single_cause_equals_sksurv_on_a_large_sample():
    from sksurv.metrics import concordance_index_censored
    from sksurv.metrics import concordance_index_ipcw as sk_ipcw
    from sksurv.util import Surv

    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(size=n)
    t = np.ceil(rng.exponential(100 * np.exp(-x)) + rng.integers(0, 3, n))
    c = np.ceil(rng.exponential(150, n))
    e = (t <= c).astype(int)
    t = np.minimum(t, c)
    risk = np.round(x + rng.normal(size=n), 2)
    y = Surv.from_arrays(e > 0, t)
    harrell = concordance_index_censored(e > 0, t, risk)[0]
    assert concordance_index_wolbers(t, e, risk) == pytest.approx(harrell, abs=1e-9)
    expected = sk_ipcw(y, y, risk, tau=120.5)[0]  # between times: sksurv truncates at T < tau
    got = concordance_index_ipcw(t, e, t, e, risk, 120.5, at_event="at")
    assert got == pytest.approx(expected, abs=1e-9)


def test_both_indices_in_one_pass_equal_the_single_ones():
    from relapse_ml.evaluation.concordance import concordance_indices

    rng = np.random.default_rng(11)
    t, e, risk = _cohort(rng, 300)
    t_tr, e_tr, _ = _cohort(rng, 300)
    both = concordance_indices(t_tr, e_tr, t, e, risk, 9.0)
    assert both["c_index"] == pytest.approx(concordance_index_wolbers(t, e, risk, 9.0), abs=1e-12)
    assert both["c_index_ipcw"] == pytest.approx(
        concordance_index_ipcw(t_tr, e_tr, t, e, risk, 9.0), abs=1e-12
    )
    assert both["c_index"] != pytest.approx(both["c_index_ipcw"], abs=1e-6)


def test_dominance_sums_with_weight_columns_and_empty_blocks():
    rng = np.random.default_rng(1)
    pos, rank = rng.integers(0, 5, 20), rng.choice(200, 20, replace=False)  # sparse ranks
    w = rng.random((20, 2))
    q_pos, q_rank = rng.integers(0, 6, 30), rng.integers(0, 201, 30)
    got = _dominance_sums(pos, rank, w, q_pos, q_rank)
    want = [w[(pos < a) & (rank < b)].sum(axis=0) for a, b in zip(q_pos, q_rank, strict=True)]
    np.testing.assert_allclose(got, want, atol=1e-12)
