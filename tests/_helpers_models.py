"""Simulated competing-risk data with known truth, for the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_cause_specific(
    n: int,
    seed: int,
    beta1=(0.8, -0.5),
    beta2=(0.3, 0.4),
    rate1: float = 1 / 500,
    rate2: float = 1 / 800,
    censor_max: float = 1500.0,
    horizon: float | None = None,
):
    """Exponential cause-specific hazards rate_k * exp(x'beta_k), x ~ N(0, I), uniform censoring.

    Returns ``(X, time, event)``; ``horizon`` adds administrative censoring there.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(beta1)))
    l1 = rate1 * np.exp(X @ np.asarray(beta1))
    l2 = rate2 * np.exp(X @ np.asarray(beta2))
    return exponential_outcome(X, l1, l2, rng, censor_max, horizon)


def exponential_outcome(X, l1, l2, rng, censor_max=1500.0, horizon=None):
    """Outcome ``(X, time, event)`` for per-patient constant cause-specific hazards ``l1``, ``l2``."""
    n = X.shape[0]
    T = rng.exponential(1.0 / (l1 + l2))
    cause = np.where(rng.random(n) < l1 / (l1 + l2), 1, 2)
    C = rng.uniform(0, censor_max, n)
    if horizon is not None:
        C = np.minimum(C, horizon)
    time = np.minimum(T, C)
    event = np.where(T <= C, cause, 0)
    cols = [f"x{j}" for j in range(X.shape[1])]
    return pd.DataFrame(X, columns=cols), time, event


def exponential_cif(l1, l2, t):
    """Analytic F1, F2 at ``t`` for constant cause-specific hazards ``l1``, ``l2``."""
    total = l1 + l2
    return l1 / total * -np.expm1(-total * t), l2 / total * -np.expm1(-total * t)


def simulate_fine_gray(
    n: int, seed: int, beta1=(0.7, -0.5), beta2=(-0.3, 0.4), p=0.4, censor_max=3.0
):
    """Fine & Gray (1999) design: F1(t|x) = 1 - (1 - p(1 - e^-t))^exp(x'beta1).

    The competing event (given it happens) is exponential with rate exp(x'beta2).
    Returns ``(X, time, event)``.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(beta1)))
    return _fine_gray_outcome(X, rng, beta1, beta2, p, censor_max)


def fine_gray_cif(x, beta1, p, t):
    """The true Fine–Gray relapse incidence at ``t`` for covariates ``x``."""
    return 1.0 - (1.0 - p * (1.0 - np.exp(-t))) ** np.exp(np.asarray(x) @ np.asarray(beta1))


def _fine_gray_outcome(X, rng, beta1, beta2, p, censor_max):
    n = X.shape[0]
    e1 = np.exp(X @ np.asarray(beta1))
    f1_inf = 1.0 - (1.0 - p) ** e1
    is_relapse = rng.random(n) < f1_inf
    u = rng.random(n)
    # invert F1(t|x) / F1(inf|x) = u
    t1 = -np.log(1.0 - (1.0 - (1.0 - u * f1_inf) ** (1.0 / e1)) / p)
    t2 = rng.exponential(1.0 / np.exp(X @ np.asarray(beta2)))
    T = np.where(is_relapse, t1, t2)
    C = rng.uniform(0, censor_max, n)
    time = np.minimum(T, C)
    event = np.where(T <= C, np.where(is_relapse, 1, 2), 0)
    cols = [f"x{j}" for j in range(X.shape[1])]
    return pd.DataFrame(X, columns=cols), time, event


def simulate_fine_gray_binary(n: int, seed: int, beta1: float = 0.8, p=0.4, censor_max=3.0):
    """Fine–Gray data with one binary covariate (half the patients each)."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n, 1)) < 0.5).astype(float)
    return _fine_gray_outcome(X, rng, (beta1,), (0.3,), p, censor_max)
