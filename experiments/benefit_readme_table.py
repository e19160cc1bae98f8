"""The README's individual-benefit table (issue 9), from results files only.

Rows: per scenario and size, the shipped learners' and intervals' numbers of
`benefit_current.py --stem stop23` (n = 346: pipeline trials; 1,000 and 3,000: its
``offline`` rows for RMSE ratio, null excess and ρ, and its pipeline trials for coverage
where they exist). Coverage marked † comes from the stop-21 pipeline trials
(`benefit_current_6000.json`, the widening of stop 21/22) where the shipped ones have none. Ceiling and the careful Cox S-learner's ρ: means over the trials of the first
study (`benefit_individual.json`) and of the positive control
(`benefit_individual_positive_control.json`).

    .venv/bin/python experiments/benefit_readme_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("null", "uniform", "mrd_driven", "harm_subgroup", "cytogenetics_driven")


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _mean(v) -> str:
    v = [x for x in v if x is not None and np.isfinite(x)]
    return f"{np.mean(v):.2f}" if v else "–"


def _spread(v) -> str:
    return f"{np.mean(v):.2f} ({min(v):.2f}–{max(v):.2f})" if len(v) > 1 else f"{v[0]:.2f}"


def table(new: dict, old: dict, peers: dict) -> str:
    rows = ["| scenario | n | trials (seeds) | RMSE ratio (reported ÷ average) | null: worst "
            "excess (trials > 0.005) | ρ | coverage [trials with intervals] | median width | "
            "ceiling | ρ careful Cox |", "|---|---|---|---|---|---|---|---|---|---|"]
    for sc in SCENARIOS:
        for n in (346, 1000, 3000):
            pipe, off = new.get(f"{sc}/{n}"), new.get(f"{sc}/{n}/offline")
            src = pipe if n == 346 else off
            if src is None:
                continue
            null = sc == "null"
            seeds = src["seeds"]
            ratio = "–" if null else (f"{src['ratio_mean']:.3f} ({src['ratio_min']:.3f}–"
                                      f"{src['ratio_max']:.3f})")
            nx = f"{src['excess_max']:+.4f} ({src['excess_fail']})" if null else "–"
            rho = "–" if null else f"{src['rho_mean']:.2f}"
            cov, width = "–", "–"
            for cell, mark in ((pipe, ""), (old.get(f"{sc}/{n}"), "†")):
                if cell is not None:
                    t = cell["coverage_trials"]
                    cov = f"{_spread(t)} [{len(t)}]{mark}"
                    width = f"{np.median(cell['width']):.2f}{mark}"
                    break
            peer = peers.get(f"{sc}/{n}", {})
            ceiling = "–" if null else _mean(peer.get("ceiling", []))
            cox = "–" if null else _mean(peer.get("cox_spearman", []))
            rows.append(f"| {sc} | {n:,} | {len(seeds)} ({min(seeds)}–{max(seeds)}) | {ratio} | "
                        f"{nx} | {rho} | {cov} | {width} | {ceiling} | {cox} |")
    return "\n".join(rows) + "\n"


def main() -> int:
    peers = {**_load("benefit_individual.json"),
             **_load("benefit_individual_positive_control.json")}
    print(table(_load("benefit_current_stop23.json")["relapse"],
                _load("benefit_current_6000.json")["relapse"], peers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
