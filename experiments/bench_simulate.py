"""Benchmark: simulate the trial with its Monte Carlo truth for 100,000 randomized patients (target < 60 s).

Times `simulate_trial` (default scenario, truth included) for a trial-sized cohort, for
n = 20,000 and for n = 100,000, with the share spent on the truth, and writes
``experiments/results/bench_simulate.json``. The machine has 2 cores shared with other
work: the load average at the start is recorded next to the times.

    .venv/bin/python experiments/bench_simulate.py [--n 100000] [--seed 0]

``--truth-landmarks`` measures instead what the truth at later visits costs
(`simulate_trial(truth_landmarks=...)`, default: the default config's landmarks, as
`relapse-ml simulate` writes it by default) at n = 346 and ``--n``, beside the same run
without it, in wall and CPU seconds, into ``bench_simulate_truth_landmarks.json``:

    nice -n 10 .venv/bin/python experiments/bench_simulate.py --n 20000 --truth-landmarks
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


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_truth_landmarks(n: int, seed: int) -> dict:
    """Cost of the truth at the default config's landmarks, at 346 and ``n`` patients."""
    from relapse_ml.config import default

    landmarks = [float(d) for d in default("landmark", "landmarks")]
    load = [round(x, 2) for x in os.getloadavg()]
    runs = []
    for size in sorted({346, n}):
        row = {"n_randomized": size}
        for key, days in (("without", []), ("with", landmarks)):
            w0, c0 = time.perf_counter(), _cpu()
            trial = simulate_trial(size, seed=seed, truth_landmarks=days)
            row[f"wall_s_{key}"] = round(time.perf_counter() - w0, 2)
            row[f"cpu_s_{key}"] = round(_cpu() - c0, 2)
            if days:
                at = trial.truth_at_landmarks
                row["rows_truth_at_landmarks"] = len(at)
                row["mean_draws"] = round(float(at["draws"].mean()), 1)
            del trial
        row["extra_cpu_s"] = round(row["cpu_s_with"] - row["cpu_s_without"], 2)
        row["extra_cpu_share"] = round(row["extra_cpu_s"] / row["cpu_s_without"], 2)
        runs.append(row)
        print(row, flush=True)
    return {"what": f"simulate_trial(n, seed, truth_landmarks={landmarks}) vs without (truth_draws=64)",
            "runs": runs, "load_average_at_start": load,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cpu_count": os.cpu_count(), "python": platform.python_version()}


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
    parser.add_argument("--truth-landmarks", action="store_true",
                        help="measure the cost of the truth at the default landmarks instead")
    args = parser.parse_args()
    if args.truth_landmarks:
        result, path = run_truth_landmarks(args.n, args.seed), RESULTS.with_name(
            "bench_simulate_truth_landmarks.json")
    else:
        result, path = run(args.n, args.seed), RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
