"""Shared fixtures of the scoring tests: a simulated trial, fitted predictors, bundles."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from relapse_ml.landmark import landmark_dataset
from tests._helpers_cli import run_relapse_ml

FAST_PARAMS = {
    "aalen_johansen": {},
    "cox_cs": {"penalizer": 0.1},
    "fine_gray": {"penalizer": 0.1},
    # early stopping: the bundle keeps only the rounds used, and must still predict exactly
    "xgb_cs": {
        "n_estimators": 80,
        "max_depth": 2,
        "early_stopping_rounds": 15,
        "validation_fraction": 0.3,
        "random_state": 1,
    },
    "xgb_direct": {
        "n_estimators": 80,
        "max_depth": 2,
        "horizon": 729.5,
        "n_times": 3,
        "early_stopping_rounds": 15,
        "validation_fraction": 0.3,
        "random_state": 1,
    },
}
NO_ARM_FEATURES = ["baseline", "markers", "gvhd"]


def simulated_trial_dir(root: Path, n: int = 300, seed: int = 3) -> Path:
    from relapse_ml.simulate import simulate_trial

    out = root / f"trial_{n}_{seed}"
    if not (out / "patients.csv").exists():
        simulate_trial(n=n, seed=seed).write(out)
    return out


def fit_predictor(
    cohort, name: str, features=None, landmark_day: float = 60.0, horizons=(365.0, 730.0)
):
    """A `RelapseRiskPredictor` as training builds it (aggregates, fingerprint, metrics)."""
    from relapse_ml.models import make_model
    from relapse_ml.predictor import RelapseRiskPredictor, training_ranges
    from relapse_ml.tracking.store import data_fingerprint

    ld = landmark_dataset(cohort, landmark_day, 730, features=features)
    model = make_model(name, **FAST_PARAMS[name]).fit(ld.X, ld.time, ld.event)
    return RelapseRiskPredictor(
        model=model,
        feature_columns=list(ld.X.columns),
        features=features,
        landmark_day=landmark_day,
        horizon_days=730.0,
        horizons=list(horizons),
        training_ranges=training_ranges(ld.X),
        info={
            "model": name,
            "model_name": name,
            "params": FAST_PARAMS[name],
            "metrics": {"c_index": 0.7, "auc_tau": 0.72, "ipa_tau": 0.1},
            "run_id": "testrun",
            "data_fingerprint": data_fingerprint(
                cohort.patients, cohort.measurements, cohort.events
            ),
        },
    ), ld


def cli(*args, cwd: Path, env_extra: dict | None = None, timeout: int = 300):
    return run_relapse_ml(*args, cwd=cwd, env_extra=env_extra, timeout=timeout)


def write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=1))
    return path


def edited(doc: dict, **changes) -> dict:
    """A deep copy of a single-patient document with ``patient`` fields changed."""
    out = copy.deepcopy(doc)
    out["patient"].update(changes)
    return out


def risks_of(doc: dict) -> np.ndarray:
    return np.array([[r["relapse"], r["nrm"], r["relapse_free_survival"]] for r in doc["risks"]])
