"""The study directory: one file per finished trial, written as the trial finishes.

``DIR/study.json`` records the study (its config without ``trials``, learners and their
interactions resolved) and the code that ran it (``code``: the git commit and package
version at the start and at every resume whose code differs, with the number of trials
finished before it); ``DIR/trials/``
holds one JSON file per finished trial, written to a temporary name, flushed to disk
(fsync) and renamed, so a crash leaves either the whole trial or nothing. A trial's file
name is its key ``(scenario, n, seed)``: a trial finished twice (a task rerun after its
worker died after reporting) overwrites itself and is never counted twice.
``consolidate`` writes ``results.csv`` from the trial files.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from relapse_ml.design.analyses import RESULT_COLUMNS
from relapse_ml.errors import RelapseMLError

STUDY_FILE = "study.json"
TRIALS_DIR = "trials"


def trial_name(scenario: str, n: int, seed: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", scenario)
    return f"{safe}__n{int(n)}__seed{int(seed)}.json"


def durable_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def study_identity(cfg) -> dict:
    """What makes two runs the same study (everything but the number of trials)."""
    return cfg.model_dump(mode="json", exclude={"trials", "tracking"})


def open_study(out: Path, cfg, resume: bool) -> None:
    """Create ``out`` for a new study, or check that it holds this study when resuming."""
    out = Path(out)
    marker = out / STUDY_FILE
    if marker.exists():
        if not resume:
            raise RelapseMLError(
                f"{out}: holds a design study already; add --resume to continue it or choose "
                "another --out"
            )
        try:
            old = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            raise RelapseMLError(f"{marker}: unreadable; choose another --out") from None
        if old.get("study") != study_identity(cfg):
            raise RelapseMLError(
                f"{out}: holds a study with another config (only --trials may change on "
                "--resume); choose another --out"
            )
        code, runs = code_identity(), old.get("code", [])
        if not runs or {k: runs[-1].get(k) for k in code} != code:
            old["code"] = [*runs, {**code, "trials_before": len(finished(out))}]
            durable_write(marker, json.dumps(old, indent=1) + "\n")
        return
    if out.exists() and any(out.iterdir()):
        raise RelapseMLError(f"{out}: directory exists and is not empty; choose another --out")
    (out / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    record = {"study": study_identity(cfg), "code": [{**code_identity(), "trials_before": 0}]}
    durable_write(marker, json.dumps(record, indent=1) + "\n")


def code_identity() -> dict:
    """The code that runs the trials: git commit ('+dirty' when modified; None outside a
    checkout) and package version."""
    from relapse_ml import __version__
    from relapse_ml.tracking.store import git_commit

    return {"git_commit": git_commit(), "version": __version__}


def finished(out: Path) -> set[str]:
    """File names of the finished trials."""
    d = Path(out) / TRIALS_DIR
    return {p.name for p in d.glob("*.json")} if d.exists() else set()


def write_trial(out: Path, record: dict) -> Path:
    path = Path(out) / TRIALS_DIR / trial_name(record["scenario"], record["n"], record["seed"])
    durable_write(path, json.dumps(record, default=_json_default) + "\n")
    return path


def _json_default(x):
    import numpy as np

    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def load_records(out: Path, keys: set[str] | None = None) -> list[dict]:
    """The finished trials' records (only those named in ``keys`` when given)."""
    d = Path(out) / TRIALS_DIR
    recs = []
    for p in sorted(d.glob("*.json")):
        if keys is None or p.name in keys:
            recs.append(json.loads(p.read_text()))
    return recs


def consolidate(out: Path, records: list[dict], order: list[str]) -> pd.DataFrame:
    """``results.csv``: one row per trial and analysis, unique on (scenario, n, seed,
    analysis), sorted by the config's scenario order, n, seed and analysis order."""
    rows = [r for rec in records for r in rec["rows"]]
    df = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    if len(df):
        rank = {s: i for i, s in enumerate(order)}
        df["_s"] = df["scenario"].map(rank)
        df["_a"] = df.groupby(["scenario", "n", "seed"]).cumcount()
        df = df.sort_values(["_s", "n", "seed", "_a"]).drop(columns=["_s", "_a"])
        dup = df.duplicated(["scenario", "n", "seed", "analysis"])
        if dup.any():
            raise RelapseMLError(f"{out}: duplicate result rows {df[dup].head(3).to_dict('records')}")
    durable_write(Path(out) / "results.csv", df.to_csv(index=False))
    return df.reset_index(drop=True)
