"""All metrics at once for one train/test split: `evaluate`."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from relapse_ml.errors import RelapseMLError
from relapse_ml.evaluation._inputs import check_outcome, check_prediction, check_times
from relapse_ml.evaluation.auc import cumulative_dynamic_auc
from relapse_ml.evaluation.brier import brier_score, null_prediction
from relapse_ml.evaluation.calibration import (
    calibration_slope_intercept,
    calibration_table,
    integrated_calibration_index,
)
from relapse_ml.evaluation.concordance import concordance_indices
from relapse_ml.evaluation.pseudo import pseudo_observations
from relapse_ml.evaluation.times import EvaluationWarning, clip_horizon, follow_up_limit

# the scalar metrics `evaluate` returns that depend on tau only (no time dimension)
TAU_METRICS = (
    "c_index",
    "c_index_ipcw",
    "auc_tau",
    "brier_tau",
    "null_brier_tau",
    "ipa_tau",
    "calibration_slope",
    "calibration_intercept",
    "calibration_in_the_large",
    "ici",
    "e50",
    "e90",
)
HIGHER_IS_BETTER = {
    "c_index": True,
    "c_index_ipcw": True,
    "auc_tau": True,
    "mean_auc": True,
    "brier_tau": False,
    "null_brier_tau": False,
    "ipa_tau": True,
    "ibs": False,
    "null_ibs": False,
    "ipa_integrated": True,
    "ici": False,
    "e50": False,
    "e90": False,
}


def evaluate(
    time_train,
    event_train,
    time_test,
    event_test,
    cif_test_at_times,
    times,
    tau: float,
    cause: int = 1,
    *,
    null_cif=None,
    n_groups: int = 10,
    tables: bool = True,
    at_event: str = "before",
) -> dict:
    """Every metric for predicted incidences of ``cause`` on a test set.

    cif_test_at_times: ``(n_test, n_times)`` predicted F(t | x) at ``times``; ``tau``
        must be one of ``times``. Times outside follow-up are dropped and a horizon
        beyond it is moved to the largest time inside (both with an EvaluationWarning).
    null_cif: the null model's predictions at ``times`` (default: Aalen–Johansen on the
        training data), e.g. out-of-fold ones in cross-validation.
    tables: also return the ``by_time`` and ``calibration_table`` DataFrames.
    Returns a flat dict of floats — tau (as used), n_test, n_cases_tau, c_index (Wolbers
    at tau), c_index_ipcw, auc_tau, mean_auc, brier_tau, null_brier_tau, ipa_tau, ibs,
    null_ibs, ipa_integrated, calibration_slope, calibration_intercept,
    calibration_in_the_large, ici, e50, e90 — plus the tables.
    """
    t_train, e_train = check_outcome(time_train, event_train, "train")
    t_test, e_test = check_outcome(time_test, event_test, "test")
    all_times = check_times(times)
    cif = check_prediction(cif_test_at_times, t_test.size, all_times.size)
    if not np.any(np.isclose(all_times, tau)):
        raise RelapseMLError(
            f"Horizon tau = {tau:g} is not among the prediction times; predict at tau too."
        )
    null = (
        null_prediction(t_train, e_train, t_test.size, all_times, cause)
        if null_cif is None
        else null_cif
    )
    null = check_prediction(null, t_test.size, all_times.size)

    limit = follow_up_limit(t_train, t_test)
    inside = (all_times > 0) & (all_times < limit)
    if not inside.any():
        raise RelapseMLError(
            f"No prediction time lies inside follow-up (0, {limit:g}). "
            "Try: predict at default_eval_times(time, event)."
        )
    if not inside.all():
        warnings.warn(
            f"Dropped evaluation time(s) outside follow-up (0, {limit:g}): "
            f"{all_times[~inside].tolist()}",
            EvaluationWarning,
            stacklevel=2,
        )
    tau = clip_horizon(float(all_times[np.isclose(all_times, tau)][0]), t_train, t_test, all_times)
    grid, cif, null = all_times[inside], cif[:, inside], null[:, inside]
    k = int(np.flatnonzero(np.isclose(grid, tau))[0])
    risk = cif[:, k]

    train_test = (t_train, e_train, t_test, e_test)
    auc = cumulative_dynamic_auc(*train_test, cif, grid, cause, at_event=at_event)
    brier = brier_score(*train_test, cif, grid, cause, at_event=at_event)
    null_brier = brier_score(*train_test, null, grid, cause, at_event=at_event)
    ibs, null_ibs = _integrate(brier, grid), _integrate(null_brier, grid)
    pseudo = pseudo_observations(t_test, e_test, tau, cause)
    slope = calibration_slope_intercept(t_test, e_test, risk, tau, cause, pseudo=pseudo)
    ici = integrated_calibration_index(t_test, e_test, risk, tau, cause, pseudo=pseudo)

    result = {
        "tau": tau,
        "n_test": float(t_test.size),
        "n_cases_tau": float(np.sum((t_test <= tau) & (e_test == cause))),
        **concordance_indices(*train_test, risk, tau, cause, at_event=at_event),
        **accuracy_metrics(float(auc.auc[k]), auc.mean_auc, float(brier[k]),
                           float(null_brier[k]), ibs, null_ibs, slope),
        **ici,
    }
    result = {key: float(value) for key, value in result.items()}
    if tables:
        result["by_time"] = pd.DataFrame(
            {
                "time": grid,
                "auc": auc.auc,
                "brier": brier,
                "null_brier": null_brier,
                "ipa": [_ipa(b, nb) for b, nb in zip(brier, null_brier, strict=True)],
            }
        )
        result["calibration_table"] = calibration_table(
            t_test, e_test, risk, tau, n_groups=n_groups, cause=cause
        )
    return result


def scalar_metrics(result: dict) -> dict[str, float]:
    """The float entries of an `evaluate` result (drops the tables)."""
    return {k: v for k, v in result.items() if isinstance(v, float)}


def _integrate(scores: np.ndarray, grid: np.ndarray) -> float:
    if grid.size == 1:
        return float(scores[0])
    return float(np.trapezoid(scores, grid) / (grid[-1] - grid[0]))


def accuracy_metrics(auc_tau, mean_auc, brier_tau, null_brier_tau, ibs, null_ibs,
                     slope: dict) -> dict[str, float]:
    """The AUC, Brier / IPA and calibration-slope entries of a metrics record (one place for
    `evaluate` and the bootstrap replicates' `replicates.PooledReplicates`)."""
    return {
        "auc_tau": auc_tau,
        "mean_auc": mean_auc,
        "brier_tau": brier_tau,
        "null_brier_tau": null_brier_tau,
        "ipa_tau": _ipa(brier_tau, null_brier_tau),
        "ibs": ibs,
        "null_ibs": null_ibs,
        "ipa_integrated": _ipa(ibs, null_ibs),
        "calibration_slope": slope["slope"],
        "calibration_intercept": slope["intercept"],
        "calibration_in_the_large": slope["intercept_in_the_large"],
    }


def _ipa(model: float, null: float) -> float:
    return float(1.0 - model / null) if null > 0 else np.nan
