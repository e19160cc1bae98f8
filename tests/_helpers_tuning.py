"""Small cohorts and quick tuning configs for the tuning tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from relapse_ml.config import parse_config
from relapse_ml.tuning.config import TuneConfig
from tests._helpers_cli import run_relapse_ml

SPACE = {
    "learning_rate": {"type": "float", "low": 0.02, "high": 0.3, "log": True},
    "max_depth": {"type": "int", "low": 1, "high": 3},
    "subsample": {"type": "float", "low": 0.6, "high": 1.0},
}


def quick_config(**sections) -> TuneConfig:
    """xgb_cs with 30 trees and no early stopping, 2 inner folds, few bootstrap replicates."""
    data = {
        "name": "t",
        "landmark": {"super_landmark": False},  # day 60 only (the default: every visit)
        "models": [
            {
                "name": "xgb_cs",
                "params": {"n_estimators": 30, "early_stopping_rounds": None},
                "search_space": SPACE,
            }
        ],
        "evaluation": {"n_splits": 2, "n_boot": 10},
        "study": {"n_trials": 3, "sampler_startup_trials": 2, "pruner_startup_trials": 1},
    }
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    return parse_config(data, TuneConfig, "test.yaml")


@lru_cache(maxsize=4)
def tiny_trial(n: int = 260, seed: int = 5):
    from relapse_ml.simulate import simulate_trial

    return simulate_trial(n=n, seed=seed)


def tiny_cohort(n: int = 260, seed: int = 5):
    return tiny_trial(n, seed).to_cohort()


def write_config(cfg: TuneConfig, path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(json.loads(cfg.model_dump_json())))
    return path


def run_cli(*args, cwd: Path, timeout: float = 300, env_extra: dict | None = None):
    return run_relapse_ml(*args, cwd=cwd, env_extra=env_extra, timeout=timeout)


def run_python(code: str, cwd: Path, timeout: float = 300):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlruns.db'}"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )
