"""Benchmark side by side (issue 3, section 6): every model × data set × metric, one run.

Data: simulated ``mrd_driven`` trials at n = 346, 2,000 and 20,000 (with the truth, so
the oracle's metrics are known), and the public ``ebmt4`` and ``bmt`` cohorts. Models:
the toolkit's five (Aalen–Johansen null, cause-specific Cox, Fine–Gray, cause-specific
XGBoost, direct XGBoost) with fixed, sensible parameters, plus a peer baseline from
scikit-survival — a random survival forest fitted on relapse with non-relapse deaths
censored, whose "relapse risk" 1 − S(τ) is scored with the same competing-risk metrics
(that is the point: it shows what ignoring the competing risk costs).

Evaluation mirrors ``relapse-ml train`` (``relapse_ml/train.py``): landmark day 60, a
730-day horizon from the landmark, metrics read at τ = 729.5 days (the landmark data
are censored at exactly 730), out-of-fold predictions pooled over a 5-fold patient-level
cross-validation (3-fold with repeats on the 125-patient ``bmt``) and percentile
bootstrap intervals by patient. At n = 20,000 one stratified 70/30 train/test split with
a bootstrap of the test set replaces cross-validation, to keep the run bounded.
Paired bootstraps (same resampled patients for both predictions) give each model's
difference from the Cox model and its ratio to the oracle. On simulated data a "feature
ceiling" (an XGBoost regression of the true risk on the same features) shows how much
of the oracle the observed features can reach at all.

Each finished (data, model) cell is appended to ``benchmark_models.jsonl`` in the output
directory; a rerun skips cells whose data and settings are unchanged (resumable).

    .venv/bin/python experiments/benchmark_models.py                # full run, ~20 min
    .venv/bin/python experiments/benchmark_models.py --quick        # small smoke run
    .venv/bin/python experiments/benchmark_models.py --fresh        # ignore cached cells
    .venv/bin/python experiments/benchmark_models.py --render-only  # .md from the .json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchmark_models_eval import (  # noqa: E402
    assess_targets,
    comparisons,
    feature_ceiling,
    oracle_summary,
    paired_contrast,  # noqa: F401 (used by tests/test_benchmark_smoke.py)
    run_cell,
)
from benchmark_models_setup import (  # noqa: E402
    FULL_DATA,
    HORIZON_DAYS,
    LANDMARK_DAY,
    PAIRED_METRICS,  # noqa: F401
    QUICK_DATA,
    RESULTS,
    RSF_LABEL,  # noqa: F401
    STEM,
    VERSION,
    BenchData,
    DataSpec,  # noqa: F401
    DeathsCensoredRSF,  # noqa: F401
    ModelSpec,
    holdout_split,  # noqa: F401
    load_data,
    model_specs,
    own_arm_risk,  # noqa: F401
    time_now,
)


def cell_key(data: BenchData, model: ModelSpec) -> str:
    blob = json.dumps(
        [VERSION, asdict(data.spec), asdict(model), data.fingerprint], sort_keys=True, default=str
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def read_cache(path: Path) -> dict[str, dict]:
    """Finished cells by key (later lines win; a truncated last line is ignored)."""
    cells = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            cells[rec["key"]] = rec
    return cells


def run_benchmark(
    data_specs=FULL_DATA,
    models=None,
    out_dir: Path = RESULTS,
    *,
    quick: bool = False,
    fresh: bool = False,
    progress=print,
) -> dict:
    """Run every (data, model) cell, reuse cached ones, and write the JSON and markdown results.

    Returns the results dict written to ``<out_dir>/benchmark_models.json``.
    """
    models = model_specs(quick) if models is None else models
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = out_dir / f"{STEM}.jsonl"
    if fresh and cache_path.exists():
        cache_path.unlink()
    cache = read_cache(cache_path)
    load_start, started = os.getloadavg(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    wall = time_now()
    results = {
        "what": "competing-risk models side by side (issue 3, section 6)",
        "started": started,
        "load_avg_start": load_start,
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "landmark_day": LANDMARK_DAY,
        "horizon_days": HORIZON_DAYS,
        "models": {m.key: {"label": m.label, "name": m.name, "params": m.params} for m in models},
        "data": {},
        "n_cells_cached": 0,
    }
    with tempfile.TemporaryDirectory(prefix="relapse-ml-bench-") as work:
        for spec in data_specs:
            data = load_data(spec, Path(work))
            progress(
                f"{spec.key}: {len(data.ld)} rows, {data.info()['events']}, "
                f"{data.info()['design']} (built in {data.seconds:.1f} s)"
            )
            cells = {}
            for model in models:
                key = cell_key(data, model)
                if key in cache:
                    cells[model.key] = cache[key]
                    results["n_cells_cached"] += 1
                    progress(f"  {model.key:<20} cached")
                    continue
                rec = {"key": key, **run_cell(data, model)}
                with cache_path.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                cells[model.key] = rec
                s = rec["summary"]
                progress(
                    f"  {model.key:<20} C {s['c_index']['pooled']:.3f}  "
                    f"IPA {_fmt(s['ipa_tau']['pooled'], '+.3f')}  fit {rec['fit_s']:.2f} s  "
                    f"(cell {rec['cell_s']:.0f} s, load {rec['load_avg_1min']:.1f})"
                )
            entry = {**data.info(), "spec": asdict(spec), "oracle": oracle_summary(data)}
            entry["comparisons"] = comparisons(data, cells, feature_ceiling(data))
            entry["feature_ceiling"] = entry["comparisons"].pop("feature_ceiling")
            entry["cells"] = {
                k: {kk: vv for kk, vv in c.items() if kk not in ("risk_tau", "null_tau")}
                for k, c in cells.items()
            }
            results["data"][spec.key] = entry
    results["targets"] = assess_targets(results)
    results["load_avg_end"] = os.getloadavg()
    results["wall_s"] = round(time_now() - wall, 1)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (out_dir / f"{STEM}.json").write_text(
        json.dumps(results, indent=1, default=_json_default) + "\n"
    )
    (out_dir / f"{STEM}.md").write_text(render_markdown(results))
    return results


def _json_default(obj):
    if isinstance(obj, np.integer | np.floating):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


# --------------------------------------------------------------------------- markdown


def _fmt(v, spec: str = ".3f") -> str:
    return "—" if v is None or not np.isfinite(v) else format(v, spec)


def _ci(m: dict, spec: str = ".3f", key: str = "pooled") -> str:
    return f"{_fmt(m[key], spec)} [{_fmt(m['ci_low'], spec)}, {_fmt(m['ci_high'], spec)}]"


def render_markdown(results: dict) -> str:
    """The compact tables the README quotes: metrics, paired differences, targets."""
    grids = [d["eval_grid"] for d in results["data"].values()]
    cells = [c for d in results["data"].values() for c in d["cells"].values()]
    cell_s = sum(c["cell_s"] for c in cells)
    loads = [c["load_avg_1min"] for c in cells] or [float("nan")]
    n_cached = results.get("n_cells_cached", 0)
    lo, hi = grids[0][:2] if grids else (0.0, 0.0)
    lines = [
        f"Landmark day {results['landmark_day']}, horizon {results['horizon_days']} days from the "
        "landmark; metrics read at τ = horizon − 0.5 day. Point estimate [95% bootstrap interval, "
        "patients resampled]. C = Wolbers' competing-risk C-index; IBS = integrated Brier score "
        f"over days {lo:g}–{hi:g} from the landmark; "
        "cal. slope from pseudo-observations (ideal 1); IPA = 1 − Brier/Brier(null) at τ. "
        "fit/predict s: wall-clock seconds per fit and per prediction call (1 thread; shared "
        "machine, load average "
        f"{results['load_avg_start'][0]:.1f} at start, {results['load_avg_end'][0]:.1f} at end). "
        "Oracle = the simulation's true risk under each patient's own arm. Mean risk = mean "
        "predicted relapse incidence at τ; observed = Aalen–Johansen at τ. "
        f"Compute: {cell_s / 60:.1f} min in the (data, model) cells (per-cell 1-min load "
        f"{min(loads):.1f}–{max(loads):.1f}); this invocation {results['wall_s'] / 60:.1f} min"
        f"{f', reusing {n_cached} cached cells' if n_cached else ''}.",
        "",
        *[f"- {k}: {d['design']}." for k, d in results["data"].items()],
        "",
        "| data | model | C-index [95% CI] | C / oracle | AUC(τ) | IBS | cal. slope | IPA(τ) "
        "| mean risk | fit s | predict s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dkey, d in results["data"].items():
        head = (
            f"{dkey} (n = {d['n_rows']}, {d['events']['relapse']} relapses, "
            f"{d['events']['nrm']} NRM; observed {_fmt(d['observed_relapse_incidence_tau'])})"
        )
        first = True
        for mkey, c in d["cells"].items():
            s = c["summary"]
            ratio = d["comparisons"]["vs_oracle"].get(mkey, {}).get("c_index")
            slope = (
                "—" if mkey == "aalen_johansen" else _fmt(s["calibration_slope"]["pooled"], ".2f")
            )
            lines.append(
                f"| {head if first else ''} | {c['label']} | {_ci(s['c_index'])} | "
                f"{_ci(ratio, '.3f', 'estimate') if ratio else ''} | {_fmt(s['auc_tau']['pooled'])} | "
                f"{_fmt(s['ibs']['pooled'])} | {slope} | {_fmt(s['ipa_tau']['pooled'], '+.3f')} | "
                f"{_fmt(c['mean_risk_tau'])} | {_fmt(c['fit_s'], '.2f')} | {_fmt(c['predict_s'], '.2f')} |"
            )
            first = False
        if d["oracle"] is not None:
            o = d["oracle"]
            lines.append(
                f"| | **oracle (truth)** | {_ci(o['c_index'])} | 1 | {_fmt(o['auc_tau']['pooled'])} "
                f"| — | {_fmt(o['calibration_slope']['pooled'], '.2f')} | "
                f"{_fmt(o['ipa_tau']['pooled'], '+.3f')} | {_fmt(d['oracle_mean_risk_tau'])} "
                "| — | — |"
            )
        f = d.get("feature_ceiling")
        if f is not None:
            lines.append(
                f"| | *feature ceiling (fitted to the true risk)* | "
                f"{_ci(f['c_index'], '.3f', 'estimate')} | "
                f"{_ci(f['ratio']['c_index'], '.3f', 'estimate')} | "
                f"{_fmt(f['auc_tau']['estimate'])} | — | — | — | — "
                "| — | — |"
            )
    lines += [
        "",
        "Paired differences from the cause-specific Cox model (same out-of-fold predictions, "
        "same resampled patients), at τ:",
        "",
        "| data | model | ΔC-index [95% CI] | ΔAUC(τ) [95% CI] | ΔIPA(τ) [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for dkey, d in results["data"].items():
        for mkey, diff in d["comparisons"]["vs_cox"].items():
            label = d["cells"][mkey]["label"]
            lines.append(
                f"| {dkey} | {label} | {_ci(diff['c_index'], '+.3f', 'estimate')} | "
                f"{_ci(diff['auc_tau'], '+.3f', 'estimate')} | "
                f"{_ci(diff['ipa_tau'], '+.3f', 'estimate')} |"
            )
    lines += ["", "Targets:", ""] + target_lines(results.get("targets", {})) + [""]
    return "\n".join(lines)


def target_lines(targets: dict) -> list[str]:
    out = []
    r = targets.get("ratio_to_oracle_at_2000")
    if r:
        verdict = "met" if r["met"] else "NOT met"
        out.append(
            f"- Best toolkit model at n = 2,000 reaches ≥ {r['target']:.0%} of the oracle's "
            f"C-index: **{verdict}** — {r['best_model']} C = {r['c_index']:.3f} vs oracle "
            f"{r['oracle_c_index']:.3f}, ratio {_ci(r['ratio'], '.3f', 'estimate')}."
        )
    for dkey, b in targets.get("xgb_beats_cox_on_simulated", {}).items():
        if b["interval_excludes_zero"]:
            verdict = "met (interval above 0)"
        elif b["point_estimate_better"]:
            verdict = "NOT shown (better point estimate, interval includes 0)"
        else:
            verdict = "NOT met"
        out.append(
            f"- {dkey}: {b['best_xgb']} beats the cause-specific Cox model: **{verdict}** — "
            f"ΔC = {_ci(b['delta_c_index'], '+.3f', 'estimate')}."
        )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and models (smoke run)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default experiments/results; --quick: a temp dir)",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore and replace cached cells")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the markdown from the JSON results"
    )
    args = parser.parse_args(argv)
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="relapse-ml-bench-quick-")) if args.quick else RESULTS
    if args.render_only:
        results = json.loads((out / f"{STEM}.json").read_text())
        (out / f"{STEM}.md").write_text(render_markdown(results))
        print(f"wrote {out / (STEM + '.md')}")
        return 0
    results = run_benchmark(
        QUICK_DATA if args.quick else FULL_DATA, out_dir=out, quick=args.quick, fresh=args.fresh
    )
    print(f"wrote {out / (STEM + '.json')} and {out / (STEM + '.md')} in {results['wall_s']:.0f} s")
    print("\n".join(target_lines(results["targets"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

