"""IPCW outcomes at the horizon and doubly robust (DR) scores of the benefit.

With G the Kaplan–Meier of the censoring distribution (`relapse_ml.evaluation.censoring_km`)
and τ the horizon (days from the landmark):

    Y*_i = 1{T_i ≤ τ, δ_i ∈ causes} · Δ_i / G(min(T_i, τ)−),

Δ_i = 1 when the status at τ is known (an event by τ, or followed beyond τ). Only events
give a non-zero Y*, so Y*_i = 1{T_i ≤ τ, δ_i ∈ causes} / G(T_i−); E[Y* | x] = F(τ | x)
under censoring independent of x given the arm. ``causes`` = (1,) is relapse; (1, 2) is
relapse or death (1 − relapse-free survival).

The DR score of the benefit (control minus sorafenib, so positive = fewer events on drug):

    φ_i = μ̂_0(x_i) − μ̂_1(x_i) + (1 − a_i)(Y*_i − μ̂_0(x_i)) / (1 − e_i) − a_i (Y*_i − μ̂_1(x_i)) / e_i,

with μ̂_a cross-fitted risks at τ under arm a and e_i = P(a = 1 | x_i).
"""

from __future__ import annotations

import numpy as np

from relapse_ml.evaluation import CensoringKM, censoring_km

OUTCOME_CAUSES = {"relapse": (1,), "rfs": (1, 2)}


def ipcw_outcome(time, event, tau: float, G: CensoringKM | None = None, causes=(1,)) -> np.ndarray:
    """Y*_i: the event indicator by ``tau`` weighted by 1 / G(T_i−) (0 without an event by tau).

    G: the censoring Kaplan–Meier; default: fitted on ``time``/``event`` themselves.
    Where G(T−) is 0 the weight is 0 (nothing is known about censoring there).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    if G is None:
        G = censoring_km(time, event)
    had = np.isin(event, causes) & (time <= tau)
    g = G.before(time)
    return np.divide(had.astype(float), g, out=np.zeros(time.size), where=had & (g > 0))


def status_known(time, event, tau: float) -> np.ndarray:
    """Δ_i: True when the status at ``tau`` is observed (any event by tau, or T > tau)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    return ((event != 0) & (time <= tau)) | (time > tau)


def dr_scores(mu0, mu1, y_star, arm, propensity) -> np.ndarray:
    """φ_i, the doubly robust score of the benefit μ_0 − μ_1 (module docstring).

    mu0, mu1: cross-fitted risks at tau under control and sorafenib; arm: 1 sorafenib,
    0 control; propensity: P(arm = 1 | x), a number (known in a trial) or one per patient.
    """
    mu0, mu1, y = (np.asarray(v, dtype=float) for v in (mu0, mu1, y_star))
    a = np.asarray(arm, dtype=float)
    e = np.broadcast_to(np.asarray(propensity, dtype=float), a.shape)
    return mu0 - mu1 + (1.0 - a) * (y - mu0) / (1.0 - e) - a * (y - mu1) / e
