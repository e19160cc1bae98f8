"""Before → after for a change of the reported rule, paired trial by trial (issue 9).

Reads two per-trial files of `benefit_individual.py` — ``before`` (default the study's
``benefit_individual.jsonl``, which also carries the careful Cox S-learner's ρ) and
``after`` (a ``--lean --tag TAG`` run) — keeps the (scenario, n, seed) present in both and
writes ``results/benefit_rule_compare_TAG.{md,json}``: per scenario × n, the RMSE ratio
(reported ÷ the trial's average, mean, min–max), the heterogeneous trials above 1.05, the
null trials worse than the average by more than 0.005 (and the worst excess), Spearman's ρ
with the truth (a constant estimate counted as 0), the careful Cox's ρ on the same trials,
and the trials where the reported estimate is the average.

    .venv/bin/python experiments/benefit_rule_compare.py --after damped_346 [--outcome rfs]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCENARIOS = ("null", "uniform", "mrd_driven", "harm_subgroup", "cytogenetics_driven")


def load(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by an interrupted write
        if r.get("study") == "individual":
            out[(r["scenario"], r["n"], r["seed"])] = r
    return out


def trial_numbers(r: dict, outcome: str) -> dict:
    """One trial's numbers for one outcome (the truth was read by the study, not here)."""
    rep = r["reported"][outcome]
    rmse, base = rep["reported.truth_rmse"], rep["trial_average.truth_rmse"]
    rho = rep.get("reported.truth_spearman")
    rho = 0.0 if rho is None or not np.isfinite(rho) else float(rho)
    cox = (r.get("cox_spearman") or {}).get(outcome)
    cov = rep.get("reported.truth_coverage") if r.get("n_boot", 0) > 1 else None
    return {"ratio": rmse / base if base > 0 else np.nan, "excess": rmse - base, "rho": rho,
            "cox": cox if cox is not None and np.isfinite(cox) else None,
            "average": rep.get("kind") == "constant",
            "coverage": cov if cov is not None and np.isfinite(cov) else None}


def cell(xs: list[dict], null: bool) -> dict:
    ratio = np.array([x["ratio"] for x in xs])
    excess = np.array([x["excess"] for x in xs])
    cox = [x["cox"] for x in xs if x["cox"] is not None]
    return {
        "trials": len(xs), "ratio_mean": float(np.nanmean(ratio)),
        "ratio_min": float(np.nanmin(ratio)), "ratio_max": float(np.nanmax(ratio)),
        "above_1.05": int((ratio > 1.05).sum()), "excess_max": float(excess.max()),
        "excess_fail": int((excess > 0.005).sum()),
        "rho_mean": float(np.mean([x["rho"] for x in xs])),
        "rho_min": float(np.min([x["rho"] for x in xs])),
        "rho_max": float(np.max([x["rho"] for x in xs])),
        "cox_rho": float(np.mean(cox)) if cox and not null else None,
        "average": int(sum(x["average"] for x in xs)),
        "coverage": _spread([x["coverage"] for x in xs if x["coverage"] is not None]),
    }


def _spread(v: list) -> str | None:
    return f"{np.mean(v):.3f} ({min(v):.2f}–{max(v):.2f})" if v else None


def compare(before: Path, after: Path, outcome: str = "relapse") -> tuple[dict, str]:
    b, a = load(before), load(after)
    keys = sorted(set(a) & set(b))
    out: dict = {}
    lines = [
        f"## Before → after, {outcome} benefit, paired on the same trials",
        "", f"before: `{before.name}`; after: `{after.name}`. Mean (min–max) over trials.", "",
        "| scenario | n | trials | RMSE ratio before | after | > 1.05 before / after | "
        "null excess worst before / after (trials > 0.005) | ρ before | ρ after | "
        "ρ careful Cox (same trials) | reported = average before / after | "
        "coverage before | coverage after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sc in SCENARIOS:
        for n in sorted({k[1] for k in keys}):
            ks = [k for k in keys if k[0] == sc and k[1] == n]
            if not ks:
                continue
            null = sc == "null"
            cb = cell([trial_numbers(b[k], outcome) for k in ks], null)
            ca = cell([trial_numbers(a[k], outcome) for k in ks], null)
            out[f"{sc}/{n}"] = {"before": cb, "after": ca}
            nx = (f"{cb['excess_max']:+.4f} ({cb['excess_fail']}) / "
                  f"{ca['excess_max']:+.4f} ({ca['excess_fail']})") if null else "–"
            cox = "–" if cb["cox_rho"] is None else f"{cb['cox_rho']:.2f}"
            lines.append(
                f"| {sc} | {n:,} | {len(ks)} | {cb['ratio_mean']:.3f} ({cb['ratio_min']:.3f}–"
                f"{cb['ratio_max']:.3f}) | {ca['ratio_mean']:.3f} ({ca['ratio_min']:.3f}–"
                f"{ca['ratio_max']:.3f}) | {cb['above_1.05']} / {ca['above_1.05']} | {nx} | "
                f"{cb['rho_mean']:.2f} | {ca['rho_mean']:.2f} ({ca['rho_min']:.2f}–"
                f"{ca['rho_max']:.2f}) | {cox} | {cb['average']} / {ca['average']} | "
                f"{cb['coverage'] or '–'} | {ca['coverage'] or '–'} |")
    return out, "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=None, help="tag of the before file (default: the study)")
    ap.add_argument("--after", required=True, help="tag of the after file")
    ap.add_argument("--outcome", choices=("relapse", "rfs"), default="relapse")
    args = ap.parse_args(argv)
    res = HERE / "results"
    before = res / f"benefit_individual{'_' + args.before if args.before else ''}.jsonl"
    after = res / f"benefit_individual_{args.after}.jsonl"
    summary, md = compare(before, after, args.outcome)
    stem = (f"benefit_rule_compare_{args.after}" + (f"_vs_{args.before}" if args.before else "")
            + ("_rfs" if args.outcome == "rfs" else ""))
    (res / f"{stem}.json").write_text(json.dumps(summary, indent=1))
    (res / f"{stem}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
