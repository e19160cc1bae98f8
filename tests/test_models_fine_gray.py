"""Fine–Gray: against a brute-force fit from the definition, lifelines on Geskus's expansion, the truth."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from relapse_ml.models import (
    FineGray,
    aalen_johansen,
    breslow_baseline,
    fit_subdistribution_hazard,
    geskus_expansion,
)
from tests._helpers_models import (
    fine_gray_cif,
    simulate_fine_gray,
    simulate_fine_gray_binary,
)


def _censoring_survival_before(time, event, t):
    """G(t-) by brute force: product over censoring times s < t; events at s leave first."""
    g = 1.0
    for s in sorted(set(time[event == 0])):
        if s >= t:
            break
        at_risk = np.sum(time > s) + np.sum((time == s) & (event == 0))
        g *= 1.0 - np.sum((time == s) & (event == 0)) / at_risk
    return g


def _subdistribution_weights(time, event, cause, t):
    """w_l(t) of Fine & Gray with Geskus's G(t-)/G(T_l-), straight from the definition."""
    w = (time >= t).astype(float)
    competing = (event != 0) & (event != cause) & (time < t)
    g_t = _censoring_survival_before(time, event, t)
    for j in np.flatnonzero(competing):
        w[j] = g_t / _censoring_survival_before(time, event, time[j])
    return w


def _brute_force_fine_gray(Z, time, event, cause, penalizer=0.0):
    """Newton–Raphson on the weighted partial likelihood, Breslow ties, one event time at a time."""
    n, p = Z.shape
    event_times = np.unique(time[event == cause])
    weights = [_subdistribution_weights(time, event, cause, t) for t in event_times]
    beta = np.zeros(p)
    for _ in range(50):
        grad, info = -n * penalizer * beta, n * penalizer * np.eye(p)
        for t, w in zip(event_times, weights, strict=True):
            dead = (time == t) & (event == cause)
            r = w * np.exp(Z @ beta)
            mean = r @ Z / r.sum()
            second = (Z * r[:, None]).T @ Z / r.sum()
            grad += Z[dead].sum(axis=0) - dead.sum() * mean
            info += dead.sum() * (second - np.outer(mean, mean))
        step = np.linalg.solve(info, grad)
        beta = beta + step
        if np.abs(step).max() < 1e-12:
            break
    return beta


@pytest.mark.parametrize(("cause", "penalizer"), [(1, 0.0), (2, 0.0), (1, 0.05)])
def test_coefficients_match_a_brute_force_fit_with_ties(cause, penalizer):
    X, time, event = simulate_fine_gray(150, seed=5)
    time = np.ceil(time * 20) / 20  # ties between events and censorings
    Z = (X.to_numpy() - X.to_numpy().mean(0)) / X.to_numpy().std(0)
    beta, _ = fit_subdistribution_hazard(Z, time, event, cause, penalizer=penalizer)
    expected = _brute_force_fine_gray(Z, time, event, cause, penalizer)
    np.testing.assert_allclose(beta, expected, rtol=1e-7, atol=1e-9)


def test_coefficients_and_baseline_match_lifelines_on_the_geskus_expansion():
    from lifelines import CoxPHFitter

    X, time, event = simulate_fine_gray(300, seed=6)
    Z = X.to_numpy()
    beta, base = fit_subdistribution_hazard(Z, time, event, cause=1)
    rows = geskus_expansion(time, event, cause=1)
    df = pd.DataFrame(Z[rows.patient], columns=[f"z{j}" for j in range(Z.shape[1])])
    df["stop"], df["status"] = rows.stop, rows.status.astype(int)
    df["weight"], df["entry"] = rows.weight, rows.entry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines notes the non-integer weights
        lifelines_beta = CoxPHFitter().fit(  # tie-free: lifelines' Efron = Breslow
            df, "stop", "status", weights_col="weight", entry_col="entry"
        ).params_.to_numpy()
    np.testing.assert_allclose(beta, lifelines_beta, rtol=1e-4, atol=1e-6)
    expanded = breslow_baseline(
        rows.stop, rows.status, Z[rows.patient] @ beta, entry=rows.entry, weights=rows.weight
    )
    grid = np.linspace(0, time.max(), 30)
    np.testing.assert_allclose(
        base.cumulative_hazard(np.zeros(1), grid),
        expanded.cumulative_hazard(np.zeros(1), grid),
        rtol=1e-10,
    )


def test_geskus_rows_carry_the_fine_gray_weights():
    X, time, event = simulate_fine_gray(80, seed=7)
    time = np.round(time, 1)
    rows = geskus_expansion(time, event, cause=1)
    for t in np.unique(time[event == 1]):
        at_risk = (rows.entry < t) & (t <= rows.stop)
        per_patient = np.bincount(
            rows.patient[at_risk], weights=rows.weight[at_risk], minlength=time.size
        )
        np.testing.assert_allclose(
            per_patient, _subdistribution_weights(time, event, 1, t), atol=1e-12
        )


def test_recovers_the_true_subdistribution_coefficients():
    beta1 = (0.7, -0.5)
    X, time, event = simulate_fine_gray(2000, seed=8, beta1=beta1)
    model = FineGray(penalizer=0.0).fit(X, time, event)
    # about 540 relapses: standard errors near 0.045; tolerance 3 SE
    np.testing.assert_allclose(model.coef_[1], beta1, atol=0.14)
    x = np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 1.0]])
    times = np.array([0.25, 0.5, 1.0, 2.0])
    got = model.predict_cif(pd.DataFrame(x, columns=X.columns), times)
    truth = np.stack([fine_gray_cif(x, beta1, 0.4, t) for t in times], axis=1)
    np.testing.assert_allclose(got, truth, atol=0.04)


def test_without_covariates_it_is_close_to_aalen_johansen():
    _, time, event = simulate_fine_gray(500, seed=9)
    X = pd.DataFrame({"constant": np.ones(time.size)})  # dropped: the model has no covariates
    times = np.quantile(time, [0.1, 0.3, 0.5, 0.7, 0.9])
    model = FineGray().fit(X, time, event)
    for cause in (1, 2):
        np.testing.assert_allclose(
            model.predict_cif(X.iloc[:1], times, cause=cause)[0],
            aalen_johansen(time, event, times, cause),
            atol=0.01,  # 1 - exp(-Lambda) vs the product limit
        )


def test_binary_covariate_matches_aalen_johansen_per_group():
    X, time, event = simulate_fine_gray_binary(1200, seed=10, beta1=0.8)
    model = FineGray().fit(X, time, event)
    times = np.array([0.2, 0.5, 1.0, 2.0])
    pred = model.predict_cif(pd.DataFrame({"x0": [0.0, 1.0]}), times)
    for group in (0, 1):
        mask = X["x0"].to_numpy() == group
        observed = aalen_johansen(time[mask], event[mask], times, 1)
        np.testing.assert_allclose(pred[group], observed, atol=0.05)
    assert (pred[1] > pred[0]).all()  # beta1 > 0 raises the incidence
