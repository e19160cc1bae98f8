"""The tracking store under concurrency and crashes (`relapse_ml.tracking.lock`).

Four ``train`` processes started at once on a fresh SQLite store must all log their run
(MLflow's table creation raced before the file lock); a ``train`` killed with SIGKILL
must leave the store usable and no registered version without its model.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relapse_ml.datasets import import_dataset

TINY = """
name: tiny
landmark: {super_landmark: false}   # day 60 only (the default trains at every visit)
models:
  - {name: cox_cs, params: {penalizer: 0.5}}
features: [baseline]
evaluation: {n_splits: 2, n_boot: 5, horizons: [365]}
"""


@pytest.fixture(scope="module")
def bmt_dir(tmp_path_factory):
    return import_dataset("bmt", tmp_path_factory.mktemp("bmt") / "bmt")


def _start_train(workdir: Path, bmt_dir: Path, db: Path, out: str) -> subprocess.Popen:
    (workdir / "tiny.yaml").write_text(TINY)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    return subprocess.Popen(
        [sys.executable, "-m", "relapse_ml.cli", "train", "--config", "tiny.yaml", "--data",
         str(bmt_dir), "--json"],
        cwd=workdir, env=env, stdout=open(workdir / f"{out}.json", "w"),
        stderr=open(workdir / f"{out}.err", "w"),
    )


def _registered(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute("SELECT version, source FROM model_versions ORDER BY version").fetchall()


def _every_version_loads(db: Path, workdir: Path) -> int:
    """Load every registered version through MLflow in a fresh process; returns how many."""
    code = (
        "import mlflow, sys\n"
        f"mlflow.set_tracking_uri('sqlite:///{db}')\n"
        "c = mlflow.tracking.MlflowClient()\n"
        "vs = c.search_model_versions(\"name='relapse-risk'\")\n"
        "for v in vs:\n"
        "    m = mlflow.pyfunc.load_model(f'models:/relapse-risk/{v.version}')\n"
        "    assert m.unwrap_python_model().predictor.feature_columns\n"
        "print(len(vs))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return int(res.stdout.split()[-1])


def test_four_trains_at_once_on_a_fresh_store_all_log_their_run(bmt_dir, tmp_path):
    db = tmp_path / "fresh.db"
    procs = [_start_train(tmp_path, bmt_dir, db, f"t{i}") for i in range(4)]
    codes = [p.wait(timeout=600) for p in procs]
    errors = [(tmp_path / f"t{i}.err").read_text()[-500:] for i in range(4)]
    assert codes == [0, 0, 0, 0], errors
    docs = [json.loads((tmp_path / f"t{i}.json").read_text()) for i in range(4)]
    assert len({d["run_id"] for d in docs}) == 4
    assert sorted(int(d["model_version"]) for d in docs) == [1, 2, 3, 4]
    with sqlite3.connect(db) as con:
        finished = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0]
    assert finished == 4
    assert _every_version_loads(db, tmp_path) == 4


def _wait_for(pred, proc, timeout=300.0, step=0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if pred():
                return True
        except sqlite3.Error:
            pass  # the store is being created
        time.sleep(step)
    return False


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
        return con.execute(sql).fetchone()[0]


@pytest.mark.parametrize(
    "kill_when",
    [
        "SELECT COUNT(*) FROM runs",  # mid-run: cross-validation or logging
        "SELECT COUNT(*) FROM logged_models",  # while the model artifact is being written
    ],
)
def test_a_train_killed_mid_run_leaves_the_store_usable(bmt_dir, tmp_path, kill_when):
    db = tmp_path / "store.db"
    proc = _start_train(tmp_path, bmt_dir, db, "killed")
    started = _wait_for(lambda: _count(db, kill_when) > 0, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert started or proc.returncode == 0, (tmp_path / "killed.err").read_text()[-500:]
    follow = _start_train(tmp_path, bmt_dir, db, "after")
    assert follow.wait(timeout=600) == 0, (tmp_path / "after.err").read_text()[-800:]
    doc = json.loads((tmp_path / "after.json").read_text())
    versions = _registered(db)
    assert doc["model_version"] == str(versions[-1][0])
    # every registered version, the killed run's included if it got that far, loads its model
    assert _every_version_loads(db, tmp_path) == len(versions)
