"""The fresh-seed confirmation of ``intervals.shape`` (stop 26), from the pipeline trials only.

The rule and its decision were written down before these trials ran (commit ffd59b7): lean
pipeline trials (`benefit_individual.py --lean --n-boot 25`) on seeds 9000 on, never used
before, tags ``riskshape_3000`` and ``riskshape_small``; the shipped default (relapse:
``risk``, relapse or death: ``constant``) stays unless a cell's mean relapse coverage is
outside its target (0.93–0.99 at 3,000, null ≥ 0.93, ≥ 0.90 at 346) while the same trials'
constant-shape coverage is inside it. Each trial records both: the shipped interval and, on
the same bootstrap, the interval with one σ_u² for everyone (``coverage_constant_shape``).

    .venv/bin/python experiments/benefit_shape_confirm.py   # writes results/benefit_shape_confirm.md
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from benefit_simulation import mean_range

RESULTS = Path(__file__).resolve().parent / "results"
TAGS = ("riskshape_small", "riskshape_3000")
SCENARIOS = ("null", "uniform", "mrd_driven", "harm_subgroup", "cytogenetics_driven")
# the targets of the pre-stated rule (ffd59b7): the issue's, at 346 and 3,000 and the null.
# 1,000 has none there (the "93–97% in every scenario and size" is reported beside it)
TARGET = {346: (0.90, 1.0), 3000: (0.93, 0.99)}


def load(tags=TAGS) -> list[dict]:
    recs = []
    for tag in tags:
        path = RESULTS / f"benefit_individual_{tag}.jsonl"
        if path.exists():
            recs += [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return recs


def in_target(value: float, n: int, scenario: str) -> bool | None:
    """Inside the pre-stated target; None where the rule set none."""
    if scenario == "null":
        return value >= 0.93
    if n not in TARGET:
        return None
    lo, hi = TARGET[n]
    return lo <= value <= hi


def table(recs: list[dict]) -> str:
    lines = [
        "## Prediction-interval coverage with the shipped shape, fresh seeds 9000 on (stop 26)",
        "",
        "Share of patients whose true benefit lies in their 95% interval, mean (min–max) over "
        "trials, and median width. 'risk' is the shipped relapse interval (σ_u² × r²/mean r²); "
        "'constant' the same trial's interval with one σ_u² for everyone (the rule before, paired). "
        "Relapse or death is shipped with the constant shape. Target (relapse, the issue's): "
        "0.93–0.99 at 3,000, ≥ 0.90 at 346, null ≥ 0.93; none was stated for 1,000 (the issue "
        "asks 0.93–0.97 of every size in its text). 'decision': the pre-stated rule — 'keep' "
        "unless risk misses the target where constant meets it.",
        "",
        "| scenario | n | trials (seeds) | relapse, risk | relapse, constant | width risk / "
        "constant | relapse or death | decision |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in (346, 1000, 3000):
        for sc in SCENARIOS:
            rs = sorted((r for r in recs if r["n"] == n and r["scenario"] == sc),
                        key=lambda r: r["seed"])
            if not rs:
                continue
            rel = [r["reported"]["relapse"] for r in rs]
            risk = [x["reported.truth_coverage"] for x in rel]
            const = [x["coverage_constant_shape"] for x in rel]
            rfs = [r["reported"]["rfs"]["reported.truth_coverage"] for r in rs]
            w = (np.median([x["median_width"] for x in rel]),
                 np.median([x["median_width_constant_shape"] for x in rel]))
            ok = in_target(float(np.mean(risk)), n, sc)
            if ok is None:
                decision = "no pre-stated target"
            elif ok:
                decision = "keep"
            else:
                decision = "revert" if in_target(float(np.mean(const)), n, sc) else "keep (both miss)"
            seeds = f"{rs[0]['seed']}–{rs[-1]['seed']}" if len(rs) > 1 else str(rs[0]["seed"])
            lines.append(
                f"| {sc} | {n:,} | {len(rs)} ({seeds}) | {mean_range(risk, 3)} | "
                f"{mean_range(const, 3)} | {w[0]:.3f} / {w[1]:.3f} | {mean_range(rfs, 3)} | "
                f"{decision} |"
            )
    return "\n".join(lines) + "\n"


def estimates_table(recs: list[dict]) -> str:
    """The same trials' check of the estimates (the shape changes none), relapse: RMSE ratio
    to the trial's average (worst over the heterogeneous trials, positive control included;
    means) and, under the null, the worst excess of the reported RMSE over the average's."""
    lines = [
        "",
        "## The estimates on the same trials (relapse)",
        "",
        "| n | heterogeneous trials | worst RMSE ratio | mean, issue's three scenarios | "
        "mean, positive control | null trials | null: worst excess over the average |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in (346, 1000, 3000):
        rs = [r for r in recs if r["n"] == n]
        het = [r for r in rs if r["scenario"] != "null"]
        null = [r["reported"]["relapse"] for r in rs if r["scenario"] == "null"]
        if not het:
            continue
        ratio = [r["reported"]["relapse"]["reported.truth_rmse_ratio"] for r in het]
        three = [r["reported"]["relapse"]["reported.truth_rmse_ratio"] for r in het
                 if r["scenario"] != "cytogenetics_driven"]
        pos = [r["reported"]["relapse"]["reported.truth_rmse_ratio"] for r in het
               if r["scenario"] == "cytogenetics_driven"]
        excess = [x["reported.truth_rmse"] - x["trial_average.truth_rmse"] for x in null]
        lines.append(
            f"| {n:,} | {len(het)} | {max(ratio):.3f} | {np.mean(three):.3f} | "
            f"{np.mean(pos):.3f} | {len(null)} | "
            + (f"{max(excess):+.4f}" if excess else "–") + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    recs = load()
    text = table(recs) + estimates_table(recs)
    (RESULTS / "benefit_shape_confirm.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
