"""The README's individual-benefit table (issue 9), from results files only.

Rows: per scenario and size, the shipped learners' and intervals' numbers of
`benefit_current.py --stem STEM`: its pipeline trials where they are at least as many as its
``offline`` rows (n = 346 and 1,000), else the offline rows for RMSE ratio, null excess and
ρ (n = 3,000) with the pipeline trials for coverage. Coverage marked † comes from the
stop-21 pipeline trials (`benefit_current_6000.json`, the widening of stop 21/22) where the
shipped ones have none. Ceiling: means over the trials of the first study
(`benefit_individual.json`) and of the positive control
(`benefit_individual_positive_control.json`). The careful Cox S-learner: fitted on the same
pipeline trials by `benefit_cox_peer.py` (``benefit_cox_peer_STEM.json``): its ρ, the paired
difference Δρ = reported − Cox (mean ± SE over trials) and its RMSE ratio.

    .venv/bin/python experiments/benefit_readme_table.py --stem stop24
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from benefit_simulation import mean_range

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("null", "uniform", "mrd_driven", "harm_subgroup", "cytogenetics_driven")


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _mean(v) -> str:
    v = [x for x in v if x is not None and np.isfinite(x)]
    return f"{np.mean(v):.2f}" if v else "–"


def table(new: dict, old: dict, ceilings: dict, peers: dict) -> str:
    rows = ["| scenario | n | trials (seeds) | RMSE ratio (reported ÷ average) | null: worst "
            "excess (trials > 0.005) | ρ | coverage [trials with intervals] | median width | "
            "ceiling | careful Cox, same trials: ρ (Δρ) | careful Cox: RMSE ratio |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for sc in SCENARIOS:
        for n in (346, 1000, 3000):
            pipe, off = new.get(f"{sc}/{n}"), new.get(f"{sc}/{n}/offline")
            use_pipe = pipe is not None and (off is None or len(pipe["seeds"]) >= len(off["seeds"]))
            src = pipe if use_pipe else off
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
                    cov = f"{mean_range(t)} [{len(t)}]{mark}"
                    width = f"{np.median(cell['width']):.2f}{mark}"
                    break
            ceiling = "–" if null else _mean(ceilings.get(f"{sc}/{n}", {}).get("ceiling", []))
            peer = peers.get(f"{sc}/{n}/relapse")
            cox = cox_ratio = "–"
            if peer is not None and not null:
                k = len(peer["seed"])
                cox = (f"{_mean(peer['rho_cox'])} ({peer['delta_rho']:+.2f} ± "
                       f"{peer['delta_rho_se']:.2f}; {k})")
                cox_ratio = mean_range(peer["ratio_cox"], 3)
            rows.append(f"| {sc} | {n:,} | {len(seeds)} ({min(seeds)}–{max(seeds)}) | {ratio} | "
                        f"{nx} | {rho} | {cov} | {width} | {ceiling} | {cox} | {cox_ratio} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stem", default="stop24",
                    help="read benefit_current_STEM.json and benefit_cox_peer_STEM.json")
    a = ap.parse_args(argv)
    ceilings = {**_load("benefit_individual.json"),
                **_load("benefit_individual_positive_control.json")}
    print(table(_load(f"benefit_current_{a.stem}.json")["relapse"],
                _load("benefit_current_6000.json")["relapse"], ceilings,
                _load(f"benefit_cox_peer_{a.stem}.json")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
