"""Benchmark: simulate the trial with its Monte Carlo truth for 100,000 randomized patients (target < 60 s).

Times `simulate_trial` (default scenario, truth included) for a trial-sized cohort, for
n = 20,000 and for n = 100,000, with the share spent on the truth, and writes
``experiments/results/bench_simulate.json``. The machine has 2 cores shared with other
work: the load average at the start is recorded next to the times.

    .venv/bin/python experiments/bench_simulate.py [--n 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

from relapse_ml.simulate import simulate_trial

RESULTS = Path(__file__).resolve().parent / "results" / "bench_simulate.json"
TARGET_SECONDS = 60.0


def timed(n: int, seed: int, truth: bool = True) -> tuple[float, object]:
    start = time.perf_counter()
    trial = simulate_trial(n, seed=seed, truth=truth)
    return time.perf_counter() - start, trial


def run(n: int, seed: int) -> dict:
    load = [round(x, 2) for x in os.getloadavg()]
    runs = []
    for size in sorted({346, 20_000, n}):
        seconds, trial = timed(size, seed)
        no_truth, _ = timed(size, seed, truth=False)
        t = trial.truth
        at = t["at_risk_at_landmark"]
        runs.append(
            {
                "n_randomized": size,
                "n_screened": trial.meta["n_screened"],
                "seconds": round(seconds, 2),
                "seconds_without_truth": round(no_truth, 2),
                "rows_measurements": len(trial.measurements),
                "rows_events": len(trial.events),
                "mean_truth_draws": round(float(t.loc[at, "draws"].mean()), 1),
                "mean_risk_control": round(float(t.loc[at, "risk_control"].mean()), 4),
                "mean_benefit": round(float(t.loc[at, "benefit"].mean()), 4),
            }
        )
        del trial
    largest = runs[-1]
    return {
        "what": "simulate_trial(n, seed, scenario='mrd_driven', truth=True, truth_draws=64)",
        "target_seconds_for_100000": TARGET_SECONDS,
        "meets_target": largest["n_randomized"] >= 100_000 and largest["seconds"] < TARGET_SECONDS,
        "runs": runs,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_at_start": load,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = run(args.n, args.seed)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
