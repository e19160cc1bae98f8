"""The convex stack of benefit learners and its guards against fitting noise (issue 9).

A stack's weights are fitted to the same DR pseudo-outcomes φ that judge it, so its in-sample
τ-risk flatters it. The guards here judge it honestly:

* `nested_stack`: the stack's cross-fitted values — for the patients of fold k, weights fitted
  on the other folds' out-of-fold estimates and φ, applied to fold k's out-of-fold estimates.
  No patient's own φ enters the weights that predict it.
* `stack_gain`: the paired τ-risk difference of those values against the constant learner's,
  with its standard error (`yardstick.paired`): keep the stack only if it is lower by more
  than ``z`` standard errors.
* `benefit_slope`: the cross-fitted calibration-for-benefit slope of φ on those values,
  clipped to [0, 1]: the factor by which the stack's deviation from its mean is shrunk.

Modelling code only: no simulation truth is read here.
"""

from __future__ import annotations

import numpy as np

from relapse_ml.benefit.yardstick import paired, tau_risk_losses


def stack_weights(B: np.ndarray, phi) -> np.ndarray:
    """Weights w ≥ 0, Σ w = 1 minimising Σ_i (φ_i − Σ_m w_m B_im)² (SLSQP)."""
    from scipy.optimize import minimize

    B, phi = np.asarray(B, float), np.asarray(phi, float)
    m = B.shape[1]
    res = minimize(
        lambda w: np.mean((phi - B @ w) ** 2),
        np.full(m, 1.0 / m),
        jac=lambda w: -2 * B.T @ (phi - B @ w) / phi.size,
        bounds=[(0.0, 1.0)] * m,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
        method="SLSQP",
    )
    w = np.clip(res.x, 0, None)
    return w / w.sum()


def nested_stack(B: np.ndarray, phi, folds) -> np.ndarray:
    """The stack's cross-fitted values: fold k's rows of ``B`` weighted by `stack_weights`
    fitted on the other folds' rows (``B``: the learners' out-of-fold estimates)."""
    B, phi, folds = np.asarray(B, float), np.asarray(phi, float), np.asarray(folds)
    out = np.empty(len(phi))
    for k in np.unique(folds):
        test = folds == k
        out[test] = B[test] @ stack_weights(B[~test], phi[~test])
    return out


def stack_gain(values, constant, phi) -> tuple[float, float]:
    """``(d, se)``: mean τ-risk of ``values`` minus that of ``constant`` (negative: the
    stack is better) and its paired standard error."""
    return paired(tau_risk_losses(values, phi), tau_risk_losses(constant, phi))


def benefit_slope(values, phi) -> float:
    """Slope of the least-squares line of φ on ``values`` (cross-fitted estimates), clipped
    to [0, 1]: 1 when the estimates' spread is as large as the benefit's that φ shows, 0
    when φ does not follow them (or they do not vary)."""
    return float(np.clip(slope_test(values, phi)[0], 0.0, 1.0))


def slope_test(values, phi) -> tuple[float, float]:
    """``(beta, se)``: the unclipped least-squares slope of φ on ``values`` (cross-fitted
    estimates) and its heteroscedasticity-robust (HC0) standard error — the
    best-linear-projection test that the estimates separate patients whose benefit differs
    (Chernozhukov, Demirer, Duflo & Fernández-Val). (0, 0) when the values do not vary."""
    v, phi = np.asarray(values, float), np.asarray(phi, float)
    dv = v - v.mean()
    var = float(dv @ dv)
    if var <= 1e-18:
        return 0.0, 0.0
    beta = float(dv @ (phi - phi.mean())) / var
    resid = phi - phi.mean() - beta * dv
    return beta, float(np.sqrt(np.sum(dv**2 * resid**2))) / var
