"""Coverage of the prediction intervals under two widening rules, on the same trials (issue 9).

`benefit_individual.py` records, for every trial, the coverage of the intervals as shipped
(``reported.truth_coverage``) and of the stop-22 rule on the same bootstrap
(``coverage_max_rule``: V = max(V_path, best D_L) instead of max(V_path + B, best D_L);
`benefit.prediction`). This script sets them side by side per scenario × n × outcome: mean
(min–max) over trials, the mean B (heterogeneity found beyond the best risk-following
learner) and the median width as shipped. The truth was read by the study, not here.
Writes ``results/benefit_interval_rules_STEM.md``.

    .venv/bin/python experiments/benefit_interval_rules.py --tags sum_rule_346 \\
        sum_rule_3000a sum_rule_3000b --stem 8000
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from benefit_simulation import mean_range

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ("null", "uniform", "mrd_driven", "harm_subgroup", "cytogenetics_driven")


def cells(records: list[dict]) -> dict:
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in records:
        for o, x in r["reported"].items():
            if "coverage_max_rule" not in x:
                continue
            c = out[(r["scenario"], r["n"], o)]
            c["seed"].append(r["seed"])
            c["shipped"].append(x["reported.truth_coverage"])
            c["stop22"].append(x["coverage_max_rule"])
            c["beyond"].append(x.get("interval_beyond_path", 0.0))
            c["width"].append(x["median_width"])
            # the widening's variance against what it should be: the reported estimate's true
            # mean squared error (the truth was read by the study, not by the rule)
            mse = x["reported.truth_rmse"] ** 2
            c["ratio"].append(x["interval_sigma2"] / mse if mse > 0 else np.nan)
    return out


def median_range(v) -> str:
    x = np.asarray([a for a in v if np.isfinite(a)], float)
    return f"{np.median(x):.2f} ({x.min():.2f}–{x.max():.2f})" if x.size else "–"


def table(records: list[dict]) -> str:
    by = cells(records)
    lines = [
        "## Prediction-interval coverage: the shipped rule beside the stop-22 rule, same trials",
        "",
        "Share of patients whose true benefit lies in their 95% interval, mean (min–max) over "
        "trials. Shipped (stop 23): V = max(V_path + B, best D_L); stop 22: V = max(V_path, "
        "best D_L) on the same bootstrap. B: heterogeneity the best learner finds beyond the "
        "best risk-following one (mean). Width: median interval width as shipped. σ_u² ÷ MSE: "
        "the shipped widening's variance ÷ the reported estimate's true mean squared error, "
        "median (min–max) over trials; a widening that, with the bootstrap's own variance "
        "added, matched the true errors would be a little below 1.",
        "",
        "| scenario | n | outcome | trials (seeds) | coverage, stop 22 | coverage, shipped | "
        "mean B | width | σ_u² ÷ MSE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted(by, key=lambda k: (k[2] != "relapse", k[2], ORDER.index(k[0])
                                     if k[0] in ORDER else 99, k[1]))
    for sc, n, o in keys:
        c = by[(sc, n, o)]
        lines.append(
            f"| {sc} | {n:,} | {o} | {len(c['seed'])} ({min(c['seed'])}–{max(c['seed'])}) | "
            f"{mean_range(c['stop22'], 3, 2)} | {mean_range(c['shipped'], 3, 2)} | {np.mean(c['beyond']):.4f} | "
            f"{np.median(c['width']):.2f} | {median_range(c['ratio'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", nargs="+", required=True,
                    help="read results/benefit_individual_TAG.jsonl")
    ap.add_argument("--stem", required=True, help="write results/benefit_interval_rules_STEM.md")
    args = ap.parse_args(argv)
    records = [
        json.loads(line)
        for tag in args.tags
        for line in (RESULTS / f"benefit_individual_{tag}.jsonl").read_text().splitlines()
        if line.strip()
    ]
    md = table(records)
    (RESULTS / f"benefit_interval_rules_{args.stem}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
