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
