"""Integration: two `relapse-ml tune` workers share one study in PostgreSQL (the script in experiments/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "distributed_tuning.sh"


def _postgres_available() -> bool:
    if any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb"):
        return True
    return os.geteuid() == 0 and shutil.which("apt-get") is not None  # the script installs it


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _postgres_available(),
                    reason="needs Linux with PostgreSQL installed, or root with apt-get to install it")  # fmt: skip
def test_two_workers_fill_one_postgres_study_exactly():
    env = {**os.environ, "PYTHON": sys.executable, "TRIALS": "6"}
    res = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=600, env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert report["finished"] == 6 and report["all_trials"] >= 6
    assert len(report["by_worker"]) == 2 and sum(report["by_worker"].values()) == 6
    assert "ok" in res.stderr.splitlines()[-1]
