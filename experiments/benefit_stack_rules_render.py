"""The tables of `benefit_stack_rules.evaluate_all`: per-trial scores of every rule, summed
up per scenario × n, with the overview of issue 9's three criteria per size."""

from __future__ import annotations

import numpy as np

SCENARIOS = ("null", "uniform", "mrd_driven", "harm_subgroup", "cytogenetics_driven")
NULL_MARGIN = 0.005  # the bar: null RMSE ≤ the average's + 0.005
HET_BAR = 1.05  # heterogeneous: RMSE ≤ 1.05 × the average's on every trial


def overview(rows: list[dict], n: int, names: list[str]) -> tuple[dict, list[str]]:
    """One line per rule at size ``n``: the three criteria of issue 9 — heterogeneous RMSE
    ratio (worst trial, mean), null excess over the average (worst, trials > 0.005), ρ over
    the heterogeneous trials beside the careful Cox S-learner's on the same trials (mean,
    and the paired difference with its SE)."""
    at = [r for r in rows if r["n"] == n]
    het = [r for r in at if r["scenario"] != "null"]
    null = [r for r in at if r["scenario"] == "null"]
    paired_rows = [r for r in het if r.get("cox_rho") is not None]
    cox = float(np.mean([r["cox_rho"] for r in paired_rows])) if paired_rows else np.nan
    lines = [f"### Overview, n = {n:,}: {len(het)} heterogeneous and {len(null)} null trials", "",
             f"ρ: mean over the heterogeneous trials; the careful Cox S-learner's on the "
             f"{len(paired_rows)} of them with its record: {cox:.3f}. ρ − Cox: paired over those "
             "trials, mean ± SE.", "",
             "| rule | het. RMSE ratio max | mean | trials > 1.05 | null excess max | "
             "null trials > 0.005 | ρ | ρ − Cox | all three met |",
             "|---|---|---|---|---|---|---|---|---|"]
    out = {}
    for name in names:
        h = [r[name] for r in het if name in r]
        z = [r[name] for r in null if name in r]
        if not h or not z:
            continue
        ratio = np.array([x["ratio"] for x in h])
        excess = np.array([x["excess"] for x in z])
        rho = float(np.mean([x["rho"] for x in h]))
        d = np.array([r[name]["rho"] - r["cox_rho"] for r in paired_rows if name in r])
        dm = float(d.mean()) if d.size else np.nan
        dse = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else np.nan
        met = bool(ratio.max() <= HET_BAR and excess.max() <= NULL_MARGIN and dm >= 0)
        out[name] = {"ratio_max": float(ratio.max()), "ratio_mean": float(ratio.mean()),
                     "ratio_fail": int((ratio > HET_BAR).sum()),
                     "excess_max": float(excess.max()),
                     "excess_fail": int((excess > NULL_MARGIN).sum()), "rho": rho,
                     "rho_minus_cox": dm, "rho_minus_cox_se": dse, "cox_rho": cox, "met": met}
        lines.append(f"| {name} | {ratio.max():.3f} | {ratio.mean():.3f} | "
                     f"{(ratio > HET_BAR).sum()}/{ratio.size} | {excess.max():+.4f} | "
                     f"{(excess > NULL_MARGIN).sum()}/{excess.size} | {rho:.3f} | "
                     f"{dm:+.3f} ± {dse:.3f} | {'yes' if met else 'no'} |")
    return out, lines + [""]


def rounded(obj, digits: int = 5):
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (float, np.floating)):
        return round(float(obj), digits)
    return obj


def summarize(rows: list[dict], outcome: str, names: list[str]) -> tuple[dict, str]:
    out = {}
    lines = [
        f"## Rules for the reported estimate ({outcome} benefit), offline on the same trials",
        "",
        "Per scenario × n: trials; RMSE ratio = RMSE of the rule's estimate ÷ RMSE of the "
        "trial's Aalen–Johansen average given to everyone, mean (max); heterogeneous "
        f"scenarios: trials above {HET_BAR}; null: trials worse than the average by more than "
        f"{NULL_MARGIN} and the largest excess; ρ: Spearman with the truth, mean over trials "
        "(a constant estimate counted as 0); constant: trials where the rule reports the "
        "average.",
        "",
    ]
    for n in sorted({r["n"] for r in rows}):
        ov, ov_lines = overview(rows, n, names)
        out.setdefault("overview", {})[str(n)] = ov
        lines += ov_lines
    for name in names:
        lines += [f"### {name}", "", "| scenario | n | trials | RMSE ratio mean (max) | "
                  "bar failures | null excess mean (max) | ρ | constant |", "|---|---|---|---|---|---|---|---|"]
        for sc in SCENARIOS:
            for n in sorted({r["n"] for r in rows}):
                rs = [r[name] for r in rows if r["scenario"] == sc and r["n"] == n and name in r]
                if not rs:
                    continue
                ratio = np.array([x["ratio"] for x in rs])
                excess = np.array([x["excess"] for x in rs])
                fail = (int((excess > NULL_MARGIN).sum()) if sc == "null"
                        else int((ratio > HET_BAR).sum()))
                cell = {"trials": len(rs), "ratio_mean": float(np.nanmean(ratio)),
                        "ratio_max": float(np.nanmax(ratio)), "failures": fail,
                        "excess_mean": float(excess.mean()), "excess_max": float(excess.max()),
                        "rho": float(np.mean([x["rho"] for x in rs])),
                        "constant": int(sum(x["constant"] for x in rs))}
                out.setdefault(name, {})[f"{sc}/{n}"] = cell
                ex = (f"{cell['excess_mean']:+.4f} ({cell['excess_max']:+.4f})"
                      if sc == "null" else "–")
                lines.append(
                    f"| {sc} | {n:,} | {len(rs)} | {cell['ratio_mean']:.3f} "
                    f"({cell['ratio_max']:.3f}) | {fail}/{len(rs)} | {ex} | {cell['rho']:.2f} | "
                    f"{cell['constant']}/{len(rs)} |")
        lines.append("")
    lines += ["### The nested cross-fitted test of the stack against the average", "",
              "| scenario | n | trials | nested z < −1.645 | in-sample z < −1.645 |",
              "|---|---|---|---|---|"]
    for sc in SCENARIOS:
        for n in sorted({r["n"] for r in rows}):
            rs = [r for r in rows if r["scenario"] == sc and r["n"] == n]
            if rs:
                a = sum(r["nested_z"] < -1.645 for r in rs)
                b = sum(r["in_sample_z"] < -1.645 for r in rs)
                lines.append(f"| {sc} | {n:,} | {len(rs)} | {a}/{len(rs)} | {b}/{len(rs)} |")
                out.setdefault("nested_test", {})[f"{sc}/{n}"] = {"nested": a, "in_sample": b,
                                                                  "trials": len(rs)}
    return out, "\n".join(lines) + "\n"
