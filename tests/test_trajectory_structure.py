"""The trajectory posterior's structured sums equal the design-array (einsum) formulas."""

from __future__ import annotations

import numpy as np

from relapse_ml.features.trajectory import _moments, design, linear_predictor
from tests.test_trajectory import TRUE, _history, simulate_histories


def test_structured_moments_and_linear_predictor_equal_the_design_array_formulas():
    X, _ = simulate_histories(200, seed=7, landmark=120.0)
    h = _history(X)
    assert h.censored.any() and (~h.observed).any()
    rng = np.random.default_rng(0)
    tau = np.where(h.observed, rng.uniform(0.5, 20.0, h.t.shape), 0.0)
    nu = np.where(h.observed, rng.normal(0.0, 5.0, h.t.shape), 0.0)
    P0 = np.linalg.inv(TRUE.D)
    m, V = _moments(h, tau, nu, P0, TRUE.mu)
    # the definition: precision P0 + sum_j tau_j z_j z_j', mean V (P0 mu + sum_j nu_j z_j)
    Z = design(h, TRUE.mu.size)
    V_ref = np.linalg.inv(np.einsum("njp,nj,njq->npq", Z, tau, Z) + P0)
    m_ref = np.einsum("npq,nq->np", V_ref, P0 @ TRUE.mu + np.einsum("njp,nj->np", Z, nu))
    np.testing.assert_allclose(V, V_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m, m_ref, rtol=1e-10, atol=1e-12)
    eta, zvz = linear_predictor(h, m, V)
    np.testing.assert_allclose(eta, np.einsum("njp,np->nj", Z, m), atol=1e-12)
    np.testing.assert_allclose(zvz, np.einsum("njp,npq,njq->nj", Z, V, Z), atol=1e-12)
    # only some rows: the same rows of the full computation (a row-wise prior mean too)
    rows = np.flatnonzero(rng.random(len(h)) < 0.3)
    prior = rng.normal(0.0, 1.0, (len(h), TRUE.mu.size))
    m_all, V_all = _moments(h, tau, nu, P0, prior)
    m_sub, V_sub = _moments(h, tau, nu, P0, prior, rows)
    np.testing.assert_allclose(V_sub, V_all[rows], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m_sub, m_all[rows], rtol=1e-12, atol=1e-14)


def test_the_posterior_is_the_moments_of_its_final_sites_in_every_row():
    """The EP sweeps refresh only the rows that moved; every row's returned posterior is
    still exactly the moments of its own returned sites."""
    from relapse_ml.features.trajectory import posterior_sites

    X, _ = simulate_histories(300, seed=3, landmark=180.0)
    h = _history(X)
    m, V, (tau, nu) = posterior_sites(TRUE, h)
    assert (h.censored.any(axis=1)).any() and (~h.censored.any(axis=1)).any()
    m_ref, V_ref = _moments(h, tau, nu, np.linalg.inv(TRUE.D), TRUE.prior_mean(h))
    np.testing.assert_allclose(V, V_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m, m_ref, rtol=1e-9, atol=1e-12)
