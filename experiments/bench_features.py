"""Benchmark: features for 100,000 patients with about 15 measurements each (target < 30 s).

Generates contract-shaped tables with numpy (no simulator, a few seconds), times
`build_features` for the default feature set and for every feature at landmark
day 60 and at day 730 (where every sample is visible: the heaviest case), and writes ``experiments/results/bench_features.json``.

    .venv/bin/python experiments/bench_features.py [--n 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.data.cohort import Cohort
from relapse_ml.data.contract import PATIENT_CATEGORIES
from relapse_ml.features import DEFAULT_FEATURES, FEATURES, build_features

RESULTS = Path(__file__).resolve().parent / "results" / "bench_features.json"
TARGET_SECONDS = 30.0
LANDMARKS = (60, 730)


def synthetic_cohort(n: int, seed: int) -> Cohort:
    """Patients, ~15 marker samples each (MRD, WT1, chimerism) and ~5 events each."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:06d}" for i in range(n)], dtype=object)
    patients = pd.DataFrame({"patient_id": ids, "age": rng.integers(18, 66, n).astype(float),
                             "ecog": rng.integers(0, 3, n), "hct_ci": rng.integers(0, 8, n).astype(float),
                             "arm": rng.choice(["sorafenib", "control"], n)})  # fmt: skip
    for col, levels in PATIENT_CATEGORIES.items():
        patients[col] = rng.choice(levels, n)

    k = rng.poisson(15, n)  # measurements per patient
    pid = np.repeat(np.arange(n), k)
    day = rng.integers(7, 730, len(pid)).astype(float)
    marker = rng.choice(["mrd_mfc", "wt1", "donor_chimerism"], len(pid))
    value = np.where(
        marker == "mrd_mfc",
        np.where(rng.random(len(pid)) < 0.7, 0.0, rng.lognormal(-3, 1.5, len(pid))).clip(0, 100),
        np.where(
            marker == "wt1",
            rng.lognormal(3, 1.2, len(pid)),
            rng.normal(97, 4, len(pid)).clip(0, 100),
        ),
    )
    measurements = pd.DataFrame({"patient_id": ids[pid], "day": day, "marker": marker,
                                 "value": value, "sample": rng.choice(["BM", "PB"], len(pid))})  # fmt: skip

    e_pid = np.repeat(np.arange(n), 5)
    kind = np.tile(["engraftment", "agvhd", "cgvhd", "sorafenib_start", "last_followup"], n)
    e_day = np.tile([18.0, 40.0, 200.0, 55.0, 800.0], n) + rng.integers(-10, 30, 5 * n)
    grade = np.where(np.isin(kind, ["agvhd", "cgvhd"]), rng.integers(1, 4, 5 * n), np.nan)
    events = pd.DataFrame({"patient_id": ids[e_pid], "day": e_day, "event": kind, "grade": grade})
    return Cohort(patients, measurements, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    cohort = synthetic_cohort(args.n, args.seed)
    generate_s = time.perf_counter() - t0

    timings = {}
    for L in LANDMARKS:
        for label, names in (("default", list(DEFAULT_FEATURES)), ("all", list(FEATURES))):
            t0 = time.perf_counter()
            X = build_features(cohort, L, names)
            timings[f"{label}_L{L}"] = {
                "landmark_day": L,
                "features": label,
                "seconds": round(time.perf_counter() - t0, 3),
                "n_columns": X.shape[1],
            }

    result = {
        "n_patients": args.n,
        "n_measurements": len(cohort.measurements),
        "n_events": len(cohort.events),
        "measurements_per_patient": round(len(cohort.measurements) / args.n, 2),
        "generate_seconds": round(generate_s, 3),
        "build_features": timings,
        "target_seconds": TARGET_SECONDS,
        "within_target": all(t["seconds"] < TARGET_SECONDS for t in timings.values()),
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },  # fmt: skip
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
