"""Hyper-parameter tuning with Optuna: one machine (SQLite) or many workers (PostgreSQL).

``run_tuning(cfg, cohort)`` runs or resumes a study whose objective is a metric
cross-validated on the training part only, then scores the best parameters and the
untuned ones on data the search never saw. Optuna and MLflow are imported lazily.
"""

from relapse_ml.tuning.campaign import TuneResult, run_tuning
from relapse_ml.tuning.config import TuneConfig

__all__ = ["TuneConfig", "TuneResult", "run_tuning"]
