"""Benchmark: calibration of every model at every size (issue 10 target).

Target: "calibration slope 0.9–1.1 at n ≥ 2,000, and mean predicted incidence within 2
points of the Aalen–Johansen estimate, for every model at every size from 346 to 20,000".

For each (size, seed) a simulated trial (``simulate_trial(n, seed)``, default scenario, no
truth needed) is trained with the default config (`relapse_ml/default_config.yaml`: the
super-landmark over days 60–365, every default model) with ``n_boot 0`` and no tracking,
exactly as `relapse-ml train` runs it. For every model, from its pooled out-of-fold
predictions of relapse incidence at τ = horizon − 0.5 days after the landmark:

- ``slope``: the calibration slope (`evaluation.calibration`: regression of jackknife
  pseudo-observations of F_relapse(τ) on the cloglog of the prediction; 1 = right spread);
- ``mean_pred`` vs ``aj``: the mean predicted incidence and the Aalen–Johansen estimate on
  the same rows; ``gap`` = mean_pred − aj (target |gap| ≤ 0.02);

pooled over the stacked landmarks (``landmark = "pooled"``, the rows the model is trained on)
and at each landmark day alone. Each finished (size, seed) appends its rows to
``results/benchmark_calibration.jsonl`` (a rerun skips it: resumable); the table is
rendered to ``benchmark_calibration.{md,json}``. CPU is shared: run it niced, the large
sizes once:

    nice -n 10 .venv/bin/python experiments/benchmark_calibration.py --sizes 346 2000 5000 --seeds 1 2
    nice -n 10 .venv/bin/python experiments/benchmark_calibration.py --sizes 20000 --seeds 1
    .venv/bin/python experiments/benchmark_calibration.py --render
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
STEM = "benchmark_calibration"
SLOPE_RANGE = (0.9, 1.1)
MAX_GAP = 0.02
SLOPE_FROM_N = 2000


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


# --variant: how the linear models (cox_cs, fine_gray) treat the landmark on stacked rows
VARIANTS = {
    "default": {},  # the package defaults (today: strata and interactions)
    "shared": {"landmark_strata": False, "landmark_interactions": False},  # one baseline, L, L²
    "strata": {"landmark_strata": True, "landmark_interactions": False},
    "strata_interactions": {"landmark_strata": True, "landmark_interactions": True},
    "strata_varying": {"landmark_strata": True, "landmark_interactions": "varying"},
    # the ridge penalty of the linear models (default: the config's)
    "penalizer_0.1": {"penalizer": 0.1},  # = the default config's, rerun beside "penalty"
    "penalizer_0.01": {"penalizer": 0.01},
    "penalizer_0.001": {"penalizer": 0.001},
    "penalty": {"penalizer": "auto"},  # chosen inside each fit (models/penalty.py)
    "penalty_1se": {"penalizer": "auto_1se"},  # the same, glmnet's one-standard-error rule
}
LINEAR = ("cox_cs", "fine_gray")
EXTRA = [{"name": "fine_gray", "params": {"penalizer": "auto_1se"}}]  # as the default Cox


def config(n_boot: int = 0, models: list[str] | None = None, variant: str = "default"):
    """The default training config with ``n_boot`` bootstrap replicates and no tracking;
    ``models``: keep only these (labels); ``variant``: the linear models' landmark terms."""
    from relapse_ml.config import default, parse_config

    data = default()
    data["evaluation"]["n_boot"] = n_boot
    # Fine–Gray left the default's candidates (it equals cox_cs on stacked landmarks); its
    # calibration is still measured here, with the default's penalty
    candidates = [*data["models"], *EXTRA]
    kept = [m for m in candidates if not models or m.get("label", m["name"]) in models]
    for m in kept:
        if m["name"] in LINEAR:
            m["params"] = {**(m.get("params") or {}), **VARIANTS[variant]}
        elif m["name"] == "trajectory" and m["params"]["model"] in LINEAR:
            p = m["params"]
            p["model_params"] = {**(p.get("model_params") or {}), **VARIANTS[variant]}
    data["models"] = kept
    return parse_config(data)


def calibration_rows(result, ld, n: int, seed: int) -> list[dict]:
    """One row per (model, landmark | pooled): slope, intercept, ICI, mean predicted, AJ."""
    from relapse_ml.evaluation import EvaluationWarning, evaluate
    from relapse_ml.models.aalen_johansen import aalen_johansen

    tau = result.tau
    rows = []
    for model, cv in result.cv.items():
        j = int(np.argmin(np.abs(cv.times - tau)))
        groups = [("pooled", np.ones(len(ld), bool))]
        groups += [(float(L), ld.landmark_day == L) for L in np.unique(ld.landmark_day)]
        for label, m in groups:
            cif = cv.oof_cif[:, m, :]  # (repeats, rows, times)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EvaluationWarning)
                if label == "pooled":
                    ev = cv.pooled[0]
                else:
                    ev = evaluate(ld.time[m], ld.event[m], ld.time[m], ld.event[m], cif[0],
                                  cv.times, tau, tables=False)
            aj = float(aalen_johansen(ld.time[m], ld.event[m], [tau], cause=1)[0])
            mean_pred = float(np.nanmean(cif[..., j]))
            rows.append({
                "kind": "calibration", "n": n, "seed": seed, "model": model, "landmark": label,
                "rows": int(m.sum()), "relapses": int((ld.event[m] == 1).sum()),
                "slope": float(ev["calibration_slope"]),
                "intercept": float(ev["calibration_intercept"]), "ici": float(ev["ici"]),
                "c_index": float(ev["c_index"]), "ipa": float(ev["ipa_tau"]),
                "mean_pred": mean_pred, "aj": aj, "gap": mean_pred - aj,
                "final": model == result.final_model,
            })
    return rows


def run_one(n: int, seed: int, n_boot: int, models=None, variant="default") -> list[dict]:
    from relapse_ml.simulate import simulate_trial
    from relapse_ml.train import landmark_data, run_training

    cfg = config(n_boot, models, variant)
    w0, c0 = time.time(), _cpu()
    cohort = simulate_trial(n=n, seed=seed, truth=False).to_cohort()
    w1, c1 = time.time(), _cpu()
    load = round(os.getloadavg()[0], 2)
    result = run_training(cfg, cohort, track=False, progress=lambda *a: None)
    w2, c2 = time.time(), _cpu()
    ld = landmark_data(cohort, cfg)  # the same rows the run trained on (time, event, landmark)
    assert len(ld) == result.n_rows
    rows = calibration_rows(result, ld, n, seed)
    cost = {"kind": "cost", "n": n, "seed": seed, "rows": result.n_rows,
            "simulate_wall_s": round(w1 - w0, 1), "simulate_cpu_s": round(c1 - c0, 1),
            "train_wall_s": round(w2 - w1, 1), "train_cpu_s": round(c2 - c1, 1),
            "load_avg_1min_at_start": load, "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "final_model": result.final_model, "n_boot": n_boot, "variant": variant,
            "models": sorted(result.cv)}
    return [cost, *rows]


def _load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(s: pd.Series, f: str) -> str:
    s = s.dropna()
    if s.empty:
        return "—"
    if len(s) == 1:
        return f"{s.iloc[0]:{f}}"
    return f"{s.mean():{f}} ({s.min():{f}} to {s.max():{f}})"


NULL_MODEL = "aalen_johansen"  # one incidence for every row: its calibration slope is undefined


def _meets(n: int, slope: pd.Series, gap: pd.Series, null: bool = False) -> str:
    gap_ok = bool((gap.abs() <= MAX_GAP).all())
    if n < SLOPE_FROM_N or null:
        return "yes" if gap_ok else "no (gap)"
    slope_ok = bool(slope.between(*SLOPE_RANGE).all())
    if slope_ok and gap_ok:
        return "yes"
    return "no (" + ", ".join(w for w, ok in (("slope", slope_ok), ("gap", gap_ok)) if not ok) + ")"


def compact(pooled: pd.DataFrame) -> list[str]:
    """One row per size: each model's pooled slope / gap (mean (min–max) over seeds)."""
    models = [m for m in dict.fromkeys(pooled["model"]) if m != NULL_MODEL]

    def cell(g, col, f):
        v = g[col]
        return f"{v.mean():{f}}" if len(v) == 1 else f"{v.mean():{f}} ({v.min():{f}}–{v.max():{f}})"

    out = ["| n | " + " | ".join(f"{m} slope / gap" for m in models) + " | null model gap |",
           "|---:|" + "---|" * (len(models) + 1)]
    for n in sorted(pooled["n"].unique()):
        g = pooled[pooled["n"] == n]
        cells = [f"{cell(h, 'slope', '.2f')} / {cell(h, 'gap', '+.3f')}"
                 for h in (g[g["model"] == m] for m in models)]
        null = g[g["model"] == NULL_MODEL]
        cells.append(cell(null, "gap", "+.3f") if len(null) else "—")
        out.append(f"| {int(n):,} | " + " | ".join(cells) + " |")
    return out


def render(rows: list[dict]) -> tuple[str, dict]:
    df = pd.DataFrame([r for r in rows if r["kind"] == "calibration"])
    cost = pd.DataFrame([r for r in rows if r["kind"] == "cost"])
    lines = [
        "# Calibration of every model at every size (default config, super-landmark 60–365)",
        "",
        "Out-of-fold (5-fold) relapse incidence at τ = 729.5 days after the landmark, pooled over "
        "the stacked landmarks. slope: calibration slope (target 0.9–1.1 at n ≥ 2,000); "
        "mean pred − AJ: mean predicted incidence minus the Aalen–Johansen estimate on the same "
        f"rows (target within ±{MAX_GAP:.2f}). Several seeds: mean (min to max). The null model "
        "(aalen_johansen) predicts one incidence for every row of a landmark (the Aalen–Johansen "
        "of that landmark's training rows), so it has no calibration slope.",
        "",
        "| n | seeds | model | slope | mean pred | AJ | mean pred − AJ | met |",
        "|---:|---|---|---|---|---|---|---|",
    ]
    out: dict = {"target": {"slope": SLOPE_RANGE, "slope_from_n": SLOPE_FROM_N, "max_gap": MAX_GAP},
                 "pooled": [], "by_landmark": [], "cost": cost.to_dict(orient="records")}
    pooled = df[df["landmark"] == "pooled"]
    order = list(dict.fromkeys(pooled["model"]))
    for n in sorted(pooled["n"].unique()):
        for model in order:
            g = pooled[(pooled["n"] == n) & (pooled["model"] == model)]
            if g.empty:
                continue
            seeds = ",".join(str(s) for s in sorted(g["seed"]))
            null = model == NULL_MODEL
            met = _meets(int(n), g["slope"], g["gap"], null)
            slope = "— (constant)" if null else _fmt(g["slope"], ".2f")
            lines.append(f"| {int(n):,} | {seeds} | {model} | {slope} | "
                         f"{_fmt(g['mean_pred'], '.3f')} | {_fmt(g['aj'], '.3f')} | "
                         f"{_fmt(g['gap'], '+.3f')} | {met} |")
            out["pooled"].append({"n": int(n), "model": model, "seeds": sorted(map(int, g["seed"])),
                                  "slope": g["slope"].tolist(), "gap": g["gap"].tolist(),
                                  "mean_pred": g["mean_pred"].tolist(), "aj": g["aj"].tolist(),
                                  "met": met})
    lines += ["", "## Compact (as quoted in the README)", "", *compact(pooled)]
    per = df[df["landmark"] != "pooled"]
    if not per.empty:
        lines += ["", "## By landmark day (slope / mean pred − AJ; mean over seeds)", ""]
        days = sorted(per["landmark"].astype(float).unique())
        lines.append("| n | model | " + " | ".join(f"day {d:g}" for d in days) + " |")
        lines.append("|---:|---|" + "---|" * len(days))
        for n in sorted(per["n"].unique()):
            for model in order:
                g = per[(per["n"] == n) & (per["model"] == model)]
                if g.empty:
                    continue
                cells = []
                for d in days:
                    h = g[g["landmark"].astype(float) == d]
                    slope = "—" if model == NULL_MODEL else f"{h['slope'].mean():.2f}"
                    cells.append(f"{slope} / {h['gap'].mean():+.3f}" if len(h) else "—")
                    if len(h):
                        out["by_landmark"].append({"n": int(n), "model": model, "landmark": d,
                                                   "slope": h["slope"].tolist(),
                                                   "gap": h["gap"].tolist()})
                lines.append(f"| {int(n):,} | {model} | " + " | ".join(cells) + " |")
    if not cost.empty:
        lines += ["", "## Cost (simulate + `run_training`, n_boot 0, no tracking)", "",
                  "| n | seed | rows | train wall s | train CPU s | load avg (start → end) | final model |",
                  "|---:|---:|---:|---:|---:|---|---|"]
        for r in cost.sort_values(["n", "seed"]).to_dict(orient="records"):
            lines.append(f"| {r['n']:,} | {r['seed']} | {r['rows']:,} | {r['train_wall_s']:.0f} | "
                         f"{r['train_cpu_s']:.0f} | {r['load_avg_1min_at_start']} → "
                         f"{r['load_avg_1min_at_end']} | {r['final_model']} |")
    return "\n".join(lines) + "\n", out


def compare(variants: list[str], out: Path) -> str:
    """Pooled slope / gap / IPA / C of the linear models, one row per (size, model, variant),
    from the variants' results (``--compare``); mean (min to max) over seeds."""
    lines = ["# The linear models' penalty: the variants side by side (pooled, out-of-fold)", "",
             "| n | model | variant | slope | mean pred − AJ | IPA | C-index | seeds |",
             "|---:|---|---|---|---|---|---|---|"]
    frames = []
    for v in variants:
        rows = _load(out / f"{STEM if v == 'default' else f'{STEM}_{v}'}.jsonl")
        df = pd.DataFrame([r for r in rows if r["kind"] == "calibration"])
        if not df.empty:
            frames.append(df[df["landmark"] == "pooled"].assign(variant=v))
    if not frames:
        return ""
    df = pd.concat(frames)
    df = df[df["model"] != NULL_MODEL]
    for (n, model), g in df.groupby(["n", "model"], sort=True):
        for v in variants:
            h = g[g["variant"] == v]
            if len(h):
                lines.append(f"| {int(n):,} | {model} | {v} | {_fmt(h['slope'], '.2f')} | "
                             f"{_fmt(h['gap'], '+.3f')} | {_fmt(h['ipa'], '.3f')} | "
                             f"{_fmt(h['c_index'], '.3f')} | {','.join(map(str, sorted(h['seed'])))} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[346, 2000, 5000])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--n-boot", type=int, default=0)
    parser.add_argument("--render", action="store_true", help="only render the tables")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--models", nargs="*", default=None,
                        help="only these models of the default config (labels)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="default",
                        help="the linear models' landmark terms; results go to "
                             f"{STEM}_VARIANT.* (default: {STEM}.*)")
    parser.add_argument("--compare", nargs="+", default=None, metavar="VARIANT",
                        help=f"only write {STEM}_compare.md: these variants' pooled numbers")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.compare:
        md = compare(args.compare, args.out)
        (args.out / f"{STEM}_compare.md").write_text(md)
        print(md)
        return
    stem = STEM if args.variant == "default" else f"{STEM}_{args.variant}"
    jsonl = args.out / f"{stem}.jsonl"
    rows = _load(jsonl)
    if not args.render:
        done = {(r["n"], r["seed"]) for r in rows if r["kind"] == "cost"}
        for n in args.sizes:
            for seed in args.seeds:
                if (n, seed) in done:
                    continue
                new = run_one(n, seed, args.n_boot, args.models, args.variant)
                with jsonl.open("a") as f:
                    for r in new:
                        f.write(json.dumps(r) + "\n")
                rows += new
                c = new[0]
                print(f"n={n} seed={seed}: train {c['train_wall_s']}s wall / {c['train_cpu_s']}s CPU "
                      f"(load {c['load_avg_1min_at_start']}); final {c['final_model']}", flush=True)
                for r in new[1:]:
                    if r["landmark"] == "pooled":
                        print(f"  {r['model']:<20} slope {r['slope']:.2f}  mean {r['mean_pred']:.3f}"
                              f"  AJ {r['aj']:.3f}  gap {r['gap']:+.3f}", flush=True)
    if rows:
        md, js = render(rows)
        (args.out / f"{stem}.md").write_text(md)
        (args.out / f"{stem}.json").write_text(json.dumps(js, indent=2) + "\n")
        print(md)


if __name__ == "__main__":
    main()
