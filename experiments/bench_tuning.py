"""Benchmark: does tuning help? The default tuning config on a simulated trial of 2,000 patients.

Simulates the ``mrd_driven`` scenario (n = 2,000; three seeds by default), runs
``configs/tune_xgboost.yaml`` (hold-out 25% of patients, 3-fold inner CV, median pruning)
with a fresh SQLite study and no MLflow on each, then scores the tuned and the untuned
parameters on the hold-out. Writes
``experiments/results/bench_tuning.json`` and prints it. The difference comes with a
paired bootstrap interval over hold-out patients: read it before claiming a gain.

    .venv/bin/python experiments/bench_tuning.py [--n 2000] [--seed 0] [--repeats 3] [--trials 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from relapse_ml.config import load_config
from relapse_ml.simulate import simulate_trial
from relapse_ml.tuning import TuneConfig, run_tuning

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results" / "bench_tuning.json"
CONFIG = ROOT / "configs" / "tune_xgboost.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0, help="first simulation seed")
    ap.add_argument(
        "--repeats", type=int, default=3, help="simulated trials (seeds seed, seed + 1, ...)"
    )
    ap.add_argument("--scenario", default="mrd_driven")
    ap.add_argument("--trials", type=int, default=None, help="default: the config's study.n_trials")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    cfg = load_config(CONFIG, model=TuneConfig)
    runs = [_one(cfg, args, args.seed + r) for r in range(args.repeats)]
    objective = cfg.objective
    deltas = [r["holdout"]["tuned_minus_default"][objective]["estimate"] for r in runs]
    report = {
        "what": "default tuning config on simulated trials: hold-out metrics of the tuned vs the untuned "
        "('default') parameters, and time per trial; one fresh study per simulated trial",
        "config": str(CONFIG.relative_to(ROOT)),
        "objective": objective,
        "n": args.n,
        "scenario": args.scenario,
        "n_trials_per_study": runs[0]["n_trials_requested"],
        "summary": {
            "mean_tuned_minus_default": {
                m: float(
                    np.mean([r["holdout"]["tuned_minus_default"][m]["estimate"] for r in runs])
                )
                for m in runs[0]["holdout"]["tuned"]
            },
            f"repeats_where_tuning_improved_{objective}": int(
                sum((d < 0) if objective == "ibs" else (d > 0) for d in deltas)
            ),
            "repeats": len(runs),
            "mean_seconds_per_complete_trial": float(
                np.mean([r["seconds_per_trial"]["complete"] for r in runs])
            ),
            "mean_seconds_per_trial_all": float(
                np.mean([r["seconds_study"] / max(r["n_run"], 1) for r in runs])
            ),
            "share_pruned": float(
                np.mean([r["trials"]["pruned"] / max(r["n_run"], 1) for r in runs])
            ),
        },
        "runs": runs,
        "machine": {
            "python": platform.python_version(),
            "cpu_count": _cpus(),
            "platform": platform.platform(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(json.dumps(report, indent=2, default=float))


def _one(cfg: TuneConfig, args, seed: int) -> dict:
    """One simulated trial, one study, one hold-out comparison."""
    t0 = time.perf_counter()
    cohort = simulate_trial(n=args.n, seed=seed, scenario=args.scenario).to_cohort()
    simulate_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_tuning(cfg, cohort, n_trials=args.trials, storage=f"sqlite:///{Path(tmp) / 'bench.db'}",
                            study_name="bench", track=False, progress=print)  # fmt: skip
        total_s = time.perf_counter() - t0
    v = result.validation
    return {
        "seed": seed,
        "rows_at_risk": result.n_rows,
        "n_trials_requested": result.n_trials_requested,
        "n_run": result.n_run_now,
        "trials": result.trials,
        "seconds_per_trial": result.seconds_per_trial,
        "seconds_study": round(result.seconds_now, 2),
        "seconds_with_validation": round(total_s, 2),
        "seconds_simulate": round(simulate_s, 2),
        "best_trial": {k: result.best[k] for k in ("number", "value", "params")},
        "holdout": {
            "n_train": v["n_train"],
            "n_test": v["n_test"],
            "tau_days": v["tau"],
            "tuned": v["tuned"],
            "default": v["default"],
            "tuned_minus_default": v["delta"],
            "default_params": v["default_params"],
        },  # fmt: skip
        "verdict": _verdict(v, result.objective),
    }


def _verdict(v: dict, objective: str) -> str:
    d = v["delta"][objective]
    better = d["estimate"] < 0 if objective == "ibs" else d["estimate"] > 0
    excludes_zero = d["ci_low"] > 0 or d["ci_high"] < 0
    if better and excludes_zero:
        return f"tuning improved the hold-out {objective} (the 95% interval of the difference excludes 0)"
    if better:
        return (f"tuning moved the hold-out {objective} in the right direction, but the 95% interval of "
                "the difference includes 0: no demonstrated gain over the untuned parameters")  # fmt: skip
    return f"tuning did not improve the hold-out {objective} over the untuned parameters"


def _cpus() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
