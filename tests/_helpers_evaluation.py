"""Simulated competing-risk data with known incidences, for the evaluation tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

A_RELAPSE, A_DEATH = 0.001, 0.0005  # baseline cause-specific hazards per day


def true_cif(x, times, beta: float = 1.0) -> np.ndarray:
    """F1(t | x) under constant cause-specific hazards λ1 = a·exp(βx), λ2 = b."""
    x = np.asarray(x, dtype=float)[:, None]
    times = np.atleast_1d(np.asarray(times, dtype=float))[None, :]
    l1 = A_RELAPSE * np.exp(beta * x)
    total = l1 + A_DEATH
    return l1 / total * (1.0 - np.exp(-total * times))


def simulate(n: int, seed: int, beta: float = 1.0, censor_max: float = 1500.0, death: bool = True):
    """``(x, time, event)``: exponential cause-specific hazards, uniform censoring.

    death=False leaves out the competing event (plain survival data).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    l1 = A_RELAPSE * np.exp(beta * x)
    l2 = np.full(n, A_DEATH if death else 0.0)
    total = l1 + l2
    t_event = rng.exponential(1.0 / total)
    cause = np.where(rng.random(n) < l1 / total, 1, 2)
    censor = rng.uniform(0.0, censor_max, n)
    time = np.minimum(t_event, censor)
    event = np.where(t_event <= censor, cause, 0)
    return x, time, event


def tied(time, step: float = 30.0) -> np.ndarray:
    """Times rounded up to whole ``step``s (> 0): many tied times."""
    return np.ceil(np.asarray(time) / step) * step


class KnownHazardModel:
    """A 'model' that predicts the true incidence from column ``x`` (fit learns nothing)."""

    def __init__(self, beta: float = 1.0):
        self.beta = beta

    def fit(self, X, time, event):
        self.fitted_ = True
        return self

    def predict_cif(self, X, times, cause: int = 1):
        assert cause == 1
        return true_cif(pd.DataFrame(X)["x"].to_numpy(), times, self.beta)
