"""Evaluation that respects censoring and competing risks (relapse = cause 1).

Outcome arrays: ``time`` in days (> 0), ``event`` 0 censored, 1 relapse, 2 non-relapse
death. Metrics are plain functions ``metric(time_train, event_train, time_test,
event_test, prediction, times, cause=1)``; the training data give the censoring
distribution (and the null model of the IPA). With no competing events they equal
scikit-survival's metrics (with ``at_event="at"`` exactly, ties included).
"""

from relapse_ml.evaluation.auc import AUCResult, cumulative_dynamic_auc
from relapse_ml.evaluation.bootstrap import bootstrap_ci
from relapse_ml.evaluation.brier import (
    brier_score,
    index_of_prediction_accuracy,
    integrated_brier_score,
    null_prediction,
)
from relapse_ml.evaluation.calibration import (
    calibration_slope_intercept,
    calibration_table,
    integrated_calibration_index,
    smoothed_observed,
)
from relapse_ml.evaluation.concordance import concordance_index_ipcw, concordance_index_wolbers
from relapse_ml.evaluation.crossval import CVResult, cross_validate
from relapse_ml.evaluation.ipcw import CensoringKM, censoring_km, ipcw_weights
from relapse_ml.evaluation.oracle import compare_with_oracle, evaluate_oracle
from relapse_ml.evaluation.pseudo import leave_one_out_incidence, pseudo_observations
from relapse_ml.evaluation.scoring import TAU_METRICS, evaluate, scalar_metrics
from relapse_ml.evaluation.times import (
    EvaluationWarning,
    clip_horizon,
    default_eval_times,
    follow_up_limit,
    times_inside,
)

__all__ = [
    "AUCResult",
    "CVResult",
    "CensoringKM",
    "EvaluationWarning",
    "TAU_METRICS",
    "bootstrap_ci",
    "brier_score",
    "calibration_slope_intercept",
    "calibration_table",
    "censoring_km",
    "clip_horizon",
    "compare_with_oracle",
    "concordance_index_ipcw",
    "concordance_index_wolbers",
    "cross_validate",
    "cumulative_dynamic_auc",
    "default_eval_times",
    "evaluate",
    "evaluate_oracle",
    "follow_up_limit",
    "index_of_prediction_accuracy",
    "integrated_brier_score",
    "integrated_calibration_index",
    "ipcw_weights",
    "leave_one_out_incidence",
    "null_prediction",
    "pseudo_observations",
    "scalar_metrics",
    "smoothed_observed",
    "times_inside",
]
