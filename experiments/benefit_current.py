"""The reported rule as shipped, on fresh trials: one table per outcome (issue 9, item 6).

Reads per-trial files of `benefit_individual.py` (``--lean --n-boot 25`` runs, one or more
tags, e.g. one per size run side by side) and writes
``results/benefit_current_STEM.{md,json}``: per scenario × n, the trials, the RMSE ratio
(reported ÷ the trial's Aalen–Johansen average, mean and min–max), the heterogeneous trials
above 1.05, the null trials worse than the average by more than 0.005 (and the worst
excess), coverage of the 95% intervals (mean, min–max), their median width, Spearman's ρ with
the truth (a constant estimate counted as 0), which rule spoke (the stack that passed its
gate, or the damped risk-based estimate) and whether every patient got an estimate and an
interval. The truth was read by the study, not here.

    .venv/bin/python experiments/benefit_current.py --tags current_small current_3000 \\
        --stem 6000

``--offline FILE`` adds rows from offline per-trial files of `benefit_stack_variants.py
evaluate --stem` (e.g. results/benefit_key_cytogenetics_3000.jsonl), the library's own rule (``library default``,
equal to the pipeline's estimate to 5e-6): RMSE ratio, null excess and ρ only (no
intervals), marked ``offline`` in the source column.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benefit_rule_compare import SCENARIOS, cell, load, trial_numbers  # noqa: E402
from benefit_simulation import mean_range as _mm  # noqa: E402


def table(records: dict, outcome: str, offline: dict | None = None) -> tuple[dict, str]:
    offline = offline or {}
    out: dict = {}
    lines = [
        f"## The reported estimate as shipped, {outcome} benefit",
        "",
        "Mean (min–max) over trials. RMSE ratio: reported ÷ the trial's Aalen–Johansen average "
        "given to everyone. Null: trials worse than the average by more than 0.005 (worst "
        "excess). Coverage: share of patients whose true benefit lies in their 95% interval; "
        "width: median interval width (risk units). ρ: Spearman with the truth (a constant "
        "estimate counted as 0). Rule: trials in which the stack passed its gate / the damped "
        "risk-based estimate was reported. Yardstick: trials in which the learner with the "
        "lowest cross-fitted τ-risk is the one closest to the truth (RMSE).",
        "",
        "| scenario | n | source (seeds) | trials | RMSE ratio | trials > 1.05 | "
        "null: worst excess (> 0.005) | coverage | width | ρ | stack / damped | "
        "yardstick picks truly best | every patient an estimate and interval |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    sizes = sorted({k[1] for k in records})
    for sc in SCENARIOS:
        for n in sizes:
            ks = sorted(k for k in records if k[0] == sc and k[1] == n)
            if not ks:
                continue
            null = sc == "null"
            c = cell([trial_numbers(records[k], outcome) for k in ks], null)
            reps = [records[k]["reported"][outcome] for k in ks]
            cov = [r.get("reported.truth_coverage") for r in reps]
            width = [r.get("median_width") for r in reps]
            methods = [r.get("method") for r in reps]
            c.update(coverage_trials=cov, width=width, methods=methods,
                     no_missing=all(r.get("no_missing") for r in reps),
                     seeds=[k[2] for k in ks])
            out[f"{sc}/{n}"] = c
            nx = f"{c['excess_max']:+.4f} ({c['excess_fail']})" if null else "–"
            n_stack = sum(m == "stack" for m in methods)
            n_damped = sum(m == "damped" for m in methods)
            picks = sum(r.get("yardstick_best") == r.get("truly_best") for r in reps)
            rho = "–" if null else f"{c['rho_mean']:.2f}"
            lines.append(
                f"| {sc} | {n:,} | pipeline ({_seeds(ks)}) | {len(ks)} | {c['ratio_mean']:.3f} ({c['ratio_min']:.3f}–"
                f"{c['ratio_max']:.3f}) | {'–' if null else c['above_1.05']} | {nx} | "
                f"{_mm(cov, 2)} | {_mm(width, 3)} | "
                f"{rho} | "
                f"{n_stack} / {n_damped} | {picks}/{len(ks)} | "
                f"{'yes' if c['no_missing'] else 'NO'} |"
            )
    for (sc, n), rows in sorted(offline.items(), key=lambda kv: (SCENARIOS.index(kv[0][0]),
                                                                  kv[0][1])):
        null = sc == "null"
        xs = [{"ratio": r["ratio"], "excess": r["excess"], "coverage": None, "cox": None,
               "average": r["constant"], "rho": 0.0 if r["rho"] is None or not
               np.isfinite(r["rho"]) else r["rho"]} for r in rows]
        c = cell(xs, null)
        c["seeds"] = [r["seed"] for r in rows]
        out[f"{sc}/{n}/offline"] = c
        nx = f"{c['excess_max']:+.4f} ({c['excess_fail']})" if null else "–"
        lines.append(
            f"| {sc} | {n:,} | offline ({_seeds([(0, 0, s) for s in c['seeds']])}) | {len(rows)} "
            f"| {c['ratio_mean']:.3f} ({c['ratio_min']:.3f}–{c['ratio_max']:.3f}) | "
            f"{'–' if null else c['above_1.05']} | {nx} | – | – | "
            f"{'–' if null else format(c['rho_mean'], '.2f')} | – | – | – |"
        )
    return out, "\n".join(lines) + "\n"


def _seeds(keys) -> str:
    s = sorted(k[2] for k in keys)
    return f"{s[0]}–{s[-1]}" if len(s) > 1 else str(s[0])


def load_offline(path: Path, rows: dict, rule: str = "library default") -> dict:
    """Add offline per-trial rows (one JSON line per trial, the rule's numbers under its name)
    to ``rows``, grouped by (scenario, n). The file is per outcome: ``…_rfs.jsonl`` holds
    relapse or death."""
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by an interrupted write
        if rule in r:
            rows.setdefault((r["scenario"], r["n"]), []).append({"seed": r["seed"], **r[rule]})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", nargs="+", required=True,
                    help="benefit_individual_TAG.jsonl files to read (results/); TAG:346,1000 "
                         "reads only those sizes from it")
    ap.add_argument("--stem", required=True, help="write results/benefit_current_STEM.*")
    ap.add_argument("--offline", nargs="*", default=[], type=Path,
                    help="offline per-trial files (relapse; FILE_rfs.jsonl beside it is read "
                         "for relapse or death when present)")
    a = ap.parse_args(argv)
    records: dict = {}
    for spec in a.tags:  # TAG or TAG:N[,N...] (only those sizes from that file)
        tag, _, sizes = spec.partition(":")
        keep = {int(x) for x in sizes.split(",")} if sizes else None
        recs = load(HERE / "results" / f"benefit_individual_{tag}.jsonl")
        records.update({k: r for k, r in recs.items() if keep is None or k[1] in keep})
    summary, md = {}, [f"# `relapse-ml benefit` as shipped on fresh simulated trials "
                       f"(tags {', '.join(a.tags)}"
                       + (f"; offline {', '.join(f.name for f in a.offline)}" if a.offline
                          else "") + ")", ""]
    for outcome in ("relapse", "rfs"):
        offline: dict = {}
        for f in a.offline:
            f = f if outcome == "relapse" else f.with_name(f.stem + "_rfs.jsonl")
            if f.exists():
                load_offline(f, offline)
        summary[outcome], text = table(records, outcome, offline)
        md.append(text)
    stem = HERE / "results" / f"benefit_current_{a.stem}"
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=1, default=float))
    stem.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
