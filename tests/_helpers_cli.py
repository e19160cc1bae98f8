"""Run `relapse-ml` in a subprocess, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_relapse_ml(
    *args,
    cwd: Path | None = None,
    tracking_uri: str | None = None,
    env_extra: dict | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """``python -m relapse_ml.cli ARGS``; with ``cwd`` the MLflow store defaults to cwd/mlruns.db."""
    env = dict(os.environ)
    if tracking_uri is None and cwd is not None:
        tracking_uri = f"sqlite:///{Path(cwd) / 'mlruns.db'}"
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "relapse_ml.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
