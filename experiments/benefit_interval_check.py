"""A quick check of the prediction intervals (`benefit.prediction`) on many simulated trials,
without the learners: what the interval of the trial's average, widened by the PATH bound,
covers of each patient's true benefit.

It reproduces the interval `relapse-ml benefit` reports when the reported estimate is the
trial's average (the choice in nearly every simulated trial, `benefit_individual.py`), with
the bootstrap half-width replaced by 1.96 × the Aalen–Johansen standard error and the
learners' share D_L left out (it is ≈ 0 in those trials): the average ± 1.96 sqrt(SE² +
V_path). The full procedure is measured, on fewer trials, by `benefit_individual.py`.
Truth is read here only to measure coverage. Writes
``results/benefit_interval_check.{json,md}``.

    nice -n 10 .venv/bin/python experiments/benefit_interval_check.py --trials 10
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCENARIOS = ("null", "uniform", "mrd_driven", "harm_subgroup")
SIZES = (346, 1000, 3000)


def coverage_row(scenario: str, n: int, seed: int) -> dict:
    from relapse_ml.benefit import run as R
    from relapse_ml.benefit.config import BenefitConfig
    from relapse_ml.benefit.prediction import path_variance_bound, widen
    from relapse_ml.simulate import simulate_trial

    cfg = BenefitConfig()
    trial = simulate_trial(n=n, seed=seed, scenario=scenario, truth=True)
    data = R.benefit_data(trial.to_cohort(), cfg)
    truth = R.align_truth(trial.truth, data.patient_id)
    row = {"scenario": scenario, "n": n, "seed": seed}
    for o in ("relapse", "rfs"):
        b = path_variance_bound(data.time, data.event, data.arm, data.tau, o)
        est = np.full(data.n, b["average"])
        half = 1.959963984540054 * b["se"]
        true = truth[R.TRUTH_COLUMNS[o]].to_numpy(float)
        for name, v in (("estimate_only", 0.0), ("prediction", b["v_path"])):
            lo, hi = widen(est, est - half, est + half, v, 0.95)
            row[f"{o}_{name}"] = float(np.mean((lo <= true) & (true <= hi)))
        row[f"{o}_width"] = float(hi[0] - lo[0])
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=500)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = [
        coverage_row(sc, n, args.seed + i)
        for sc in SCENARIOS
        for n in SIZES
        for i in range(args.trials)
    ]
    summary = {}
    lines = [
        "## Coverage of the prediction interval around the trial's average (quick check)",
        "",
        "`experiments/benefit_interval_check.py`: the interval `benefit` reports when it "
        "reports the average (bootstrap half-width approximated by 1.96 × SE, learners left "
        f"out); {args.trials} simulated trials per cell; mean (min–max) share of patients "
        "whose true benefit lies in their 95% interval; width in risk units.",
        "",
        "| scenario | n | relapse: estimate only | relapse: prediction | width | "
        "rfs: estimate only | rfs: prediction |",
        "|---|---|---|---|---|---|---|",
    ]

    def ms(v):
        v = np.asarray(v)
        return f"{v.mean():.3f} ({v.min():.2f}–{v.max():.2f})"

    for sc in SCENARIOS:
        for n in SIZES:
            rs = [r for r in rows if r["scenario"] == sc and r["n"] == n]
            cell = {k: [r[k] for r in rs] for k in rs[0] if k not in ("scenario", "n", "seed")}
            summary[f"{sc}/{n}"] = {k: float(np.mean(v)) for k, v in cell.items()}
            summary[f"{sc}/{n}"]["trials"] = len(rs)
            lines.append(
                f"| {sc} | {n:,} | {ms(cell['relapse_estimate_only'])} | "
                f"{ms(cell['relapse_prediction'])} | {np.mean(cell['relapse_width']):.3f} | "
                f"{ms(cell['rfs_estimate_only'])} | {ms(cell['rfs_prediction'])} |"
            )
    out = HERE / "results"
    (out / "benefit_interval_check.json").write_text(json.dumps(summary, indent=1))
    md = "\n".join(lines) + "\n"
    (out / "benefit_interval_check.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
