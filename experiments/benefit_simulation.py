"""Proof of the benefit analysis on simulated trials (issue 5, section 5).

Studies (each trial = one simulated trial analysed by the lean pipeline):

* ``null``     scenario null, n = 346: how often the heterogeneity test (AUTOC of each
               learner, two-sided 5%) or any Holm- / BH-corrected pre-specified subgroup
               interaction is declared significant. Reported with a Clopper–Pearson interval.
* ``power``    scenario mrd_driven, n = 346 and 1,000: the same tests' rejection rates.
* ``spearman`` scenario mrd_driven, n = 2,000: Spearman correlation of each learner's
               cross-fitted benefit with the true benefit, and the "feature ceiling": a
               cross-validated XGBoost regression fitted on the true benefit itself (what
               the observed features could give with no outcome noise at all).
* ``harm``     scenario harm_subgroup (older or comorbid patients die more on sorafenib):
               does the relapse-free-survival benefit pick out the harmed patients?
* ``individual`` (issue 9, `benefit_individual.py`): scenarios null / uniform / mrd_driven /
               harm_subgroup × n = 346, 1,000, 3,000: the reported individual estimate's
               RMSE ÷ the trial average's, interval coverage, rank correlation (and the
               careful Cox S-learner's), the null false-positive rates, and whether the
               yardstick picks the truly best learner. Its own files:
               ``results/benefit_individual.{jsonl,json,md}``.

Trials are independent tasks run in ``--jobs`` processes; each finished trial is appended
as one JSON line to ``--jsonl``, and a rerun skips the trials already there (resumable).
``--summarize`` (also run at the end) writes ``experiments/results/benefit_simulation.json``
and a markdown table.

    .venv/bin/python experiments/benefit_simulation.py --study null --n-trials 200 --jobs 2
    .venv/bin/python experiments/benefit_simulation.py --study all --n-trials 50 --jobs 2
    nice -n 10 .venv/bin/python experiments/benefit_simulation.py --study individual \
        --n-trials 20 --n-boot 25 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
JSONL = RESULTS / "benefit_simulation.jsonl"
SUMMARY = RESULTS / "benefit_simulation.json"
MARKDOWN = RESULTS / "benefit_simulation.md"
ALPHA = 0.05

STUDIES = {
    # study: (scenario, sizes, default trials per size, needs truth)
    "null": ("null", (346,), 200, False),
    "power": ("mrd_driven", (346, 1000), 100, False),
    "spearman": ("mrd_driven", (2000,), 5, True),
    "harm": ("harm_subgroup", (346, 1000), 20, True),
    "oracle": ("mrd_driven", (346, 1000), 30, True),
}


def simulator_fingerprint() -> str:
    """SHA-256 (12 hex) of the simulator's source: results from different versions differ."""
    import hashlib

    import relapse_ml.simulate as sim

    h = hashlib.sha256()
    for path in sorted(Path(sim.__file__).parent.glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def lean_config(n_boot: int = 200, interval_boot: int = 0):
    """The default benefit config without SHAP or discovery, ``n_boot`` heterogeneity-test
    replicates and ``interval_boot`` per-patient bootstrap replicates (0: none)."""
    from relapse_ml.benefit.config import BenefitConfig

    return BenefitConfig(
        intervals={"n_boot": interval_boot},
        explain={"enabled": False},
        heterogeneity={"n_boot": n_boot},
        subgroups={"exploratory": {"enabled": False}},
    )


def run_trial(study: str, n: int, seed: int, n_boot: int) -> dict:
    """Simulate one trial and analyse it; a JSON-ready record."""
    import warnings

    from relapse_ml.benefit import heterogeneity as H
    from relapse_ml.benefit import run as R
    from relapse_ml.benefit.subgroups import (
        benjamini_hochberg,
        configured_levels,
        holm,
        interaction_pvalues,
    )
    from relapse_ml.simulate import simulate_trial

    warnings.filterwarnings("ignore")
    scenario, _, _, need_truth = STUDIES[study]
    start = time.perf_counter()
    trial = simulate_trial(n=n, seed=seed, scenario=scenario, truth=need_truth)
    cohort = trial.to_cohort()
    cfg = lean_config(n_boot)
    data = R.benefit_data(cohort, cfg)
    truth = R.align_truth(trial.truth, data.patient_id) if need_truth else None
    if study == "oracle":
        return oracle_trial(cfg, data, truth, study, scenario, n, seed, start)
    estimates, folds, cache = R.cross_fit_learners(cfg, data, progress=lambda *a: None)
    scores, _ = R.evaluation_scores(cfg, data, folds, cache)
    sequential = R.sequential_validation(cfg, data, n_boot=n_boot, seed=seed + 1)
    rec = {
        "study": study,
        "scenario": scenario,
        "n": n,
        "seed": seed,
        "n_at_risk": data.n,
        "learners": {},
    }
    for label, est in estimates.items():
        per = {}
        for o in ("relapse", "rfs"):
            r = H.rate_test(est.benefit[o], scores[o], seed=seed)
            b = H.blp_test(est.benefit[o], scores[o])
            seq = sequential.get((label, o))
            per[o] = {
                "autoc": r["autoc"],
                "autoc_p": r["autoc_p"],
                "qini_p": r["qini_p"],
                "blp_beta_p": b["beta_p"],
                "test_autoc_p": seq["autoc"]["p"] if seq else float("nan"),
                "test_qini_p": seq["qini"]["p"] if seq else float("nan"),
                "test_blp_p": seq["blp"]["p"] if seq else float("nan"),
            }
            if truth is not None:
                per[o]["spearman"] = H.truth_agreement(est.benefit[o], truth[R.TRUTH_COLUMNS[o]])[
                    "spearman"
                ]
        rec["learners"][label] = per
    levels = configured_levels(cohort, data.patient_id, cfg)
    for o in ("relapse", "rfs"):
        p = interaction_pvalues(data.time, data.event, data.arm, levels, o)
        vals = np.array(list(p.values()), float)
        rec[f"subgroups_{o}"] = {
            "p": p,
            "min_holm": _nanmin(holm(vals)),
            "min_bh": _nanmin(benjamini_hochberg(vals)),
        }
    if study == "spearman":
        rec["feature_ceiling"] = feature_ceiling(data.X, truth, seed)
    if study == "harm":
        rec["harm"] = harm_metrics(cohort, trial, data, estimates, truth)
    rec["simulator"] = simulator_fingerprint()
    rec["seconds"] = time.perf_counter() - start
    return rec


def oracle_trial(cfg, data, truth, study, scenario, n, seed, start) -> dict:
    """The AUTOC test with the TRUE benefit as the ranking: the power no learner can beat
    with these outcomes (the ranking owes nothing to the outcomes, so holding it fixed is
    valid and all patients are evaluated)."""
    from relapse_ml.benefit import heterogeneity as H
    from relapse_ml.benefit import run as R
    from relapse_ml.benefit.learners import make_folds

    folds = make_folds(data.arm, data.event, cfg.crossfit.n_folds, cfg.crossfit.seed)
    scores, _ = R.evaluation_scores(cfg, data, folds, {})
    rec = {"study": study, "scenario": scenario, "n": n, "seed": seed, "n_at_risk": data.n}
    for o in ("relapse", "rfs"):
        r = H.rate_test(truth[R.TRUTH_COLUMNS[o]].to_numpy(float), scores[o])
        rec[o] = {"autoc": r["autoc"], "autoc_p": r["autoc_p"]}
    rec["simulator"] = simulator_fingerprint()
    rec["seconds"] = time.perf_counter() - start
    return rec


def _nanmin(x) -> float:
    x = np.asarray(x, float)
    return float(np.nanmin(x)) if np.isfinite(x).any() else float("nan")


def feature_ceiling(X, truth, seed: int) -> dict:
    """Spearman of a 5-fold cross-validated XGBoost fitted on the TRUE benefit."""
    from scipy.stats import spearmanr
    from sklearn.model_selection import cross_val_predict
    from xgboost import XGBRegressor

    out = {}
    for o, col in (("relapse", "benefit"), ("rfs", "rfs_benefit")):
        y = truth[col].to_numpy(float)
        model = XGBRegressor(
            n_estimators=300, max_depth=3, learning_rate=0.03, n_jobs=1, random_state=seed
        )
        pred = cross_val_predict(model, X, y, cv=5)
        out[o] = float(spearmanr(pred, y).statistic)
    return out


def harm_metrics(cohort, trial, data, estimates, truth) -> dict:
    """How well each learner's estimated benefit separates the harmed group (age or HCT-CI
    above the scenario's thresholds) from the others, for RFS and for relapse."""
    from sklearn.metrics import roc_auc_score

    s = trial.meta["scenario_parameters"]
    p = cohort.patients.set_index(cohort.patients["patient_id"].astype(str)).reindex(
        data.patient_id
    )
    harmed = (p["age"].to_numpy(float) >= s["harm_age"]) | (
        p["hct_ci"].to_numpy(float) >= s["harm_hct_ci"]
    )
    out = {
        "fraction_harmed": float(harmed.mean()),
        "true_rfs_benefit_harmed": float(truth["rfs_benefit"][harmed].mean()),
        "true_rfs_benefit_others": float(truth["rfs_benefit"][~harmed].mean()),
        "true_relapse_benefit_harmed": float(truth["benefit"][harmed].mean()),
        "learners": {},
    }
    if harmed.all() or not harmed.any():
        return out
    for label, est in estimates.items():
        rfs, rel = est.benefit["rfs"], est.benefit["relapse"]
        out["learners"][label] = {
            # AUC of "lower estimated benefit" for being in the harmed group
            "auc_rfs": float(roc_auc_score(harmed, -rfs)),
            "auc_relapse": float(roc_auc_score(harmed, -rel)),
            "rfs_harmed": float(rfs[harmed].mean()),
            "rfs_others": float(rfs[~harmed].mean()),
            "share_harmed_negative_rfs": float((rfs[harmed] < 0).mean()),
            "share_others_negative_rfs": float((rfs[~harmed] < 0).mean()),
        }
    return out


# -- running --------------------------------------------------------------------------------
def done_keys(path: Path, fields=("study", "n", "seed")) -> set[tuple]:
    """The ``fields`` of each trial already in the JSON-lines file ``path``."""
    keys = set()
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted write
            keys.add(tuple(r[f] for f in fields))
    return keys


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def run(studies, n_trials: int | None, jobs: int, path: Path, n_boot: int, seed0: int) -> None:
    done = done_keys(path)
    tasks = []
    for study in studies:
        _, sizes, default_trials, _ = STUDIES[study]
        for n in sizes:
            for i in range(n_trials or default_trials):
                seed = seed0 + i
                if (study, n, seed) not in done:
                    tasks.append((study, n, seed))
    append_trials(run_trial, tasks, n_boot, jobs, path, len(done), every=10)


def append_trials(fn, tasks, n_boot: int, jobs: int, path: Path, n_done: int, every: int) -> None:
    """Run ``fn(*task, n_boot)`` for each task in ``jobs`` single-threaded processes, appending
    each record as one JSON line to ``path`` as it finishes (a failed trial is reported and
    skipped); progress every ``every`` trials."""
    print(f"{len(tasks)} trials to run ({n_done} already in {path})", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with (
        ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init) as pool,
        path.open("a") as fh,
    ):
        futures = {pool.submit(fn, *t, n_boot): t for t in tasks}
        for k, fut in enumerate(as_completed(futures), 1):
            t = futures[fut]
            try:
                rec = fut.result()
            except Exception as err:  # a failed trial is reported, not fatal
                print(f"  {t}: failed: {type(err).__name__}: {err}", flush=True)
                continue
            fh.write(json.dumps(rec, default=float) + "\n")
            fh.flush()
            if k % every == 0 or k == len(tasks):
                print(f"  {k}/{len(tasks)} {t} {time.perf_counter() - start:.0f} s", flush=True)


# -- summary --------------------------------------------------------------------------------
def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _rate(flags) -> dict:
    flags = [bool(f) for f in flags]
    k, n = sum(flags), len(flags)
    lo, hi = clopper_pearson(k, n) if n else (float("nan"), float("nan"))
    return {"rate": k / n if n else float("nan"), "k": k, "trials": n, "ci_low": lo, "ci_high": hi}


def _sig(p) -> bool:
    return p is not None and np.isfinite(p) and p < ALPHA


def summarize(path: Path, primary: str) -> dict:
    records = (
        [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    )
    out: dict = {
        "alpha": ALPHA,
        "primary_learner": primary,
        "source": str(path.name),
        "simulator": sorted({r.get("simulator", "unknown") for r in records}),
        "note": "rates with 95% Clopper-Pearson intervals; AUTOC test two-sided, "
        "BLP test one-sided (beta > 0)",
    }
    for study in STUDIES:
        recs = [r for r in records if r["study"] == study]
        if not recs:
            continue
        if study == "oracle":
            out[study] = {
                str(n): {
                    o: _rate(_sig(r[o]["autoc_p"]) for r in recs if r["n"] == n)
                    for o in ("relapse", "rfs")
                }
                for n in sorted({r["n"] for r in recs})
            }
            continue
        res = {}
        for n in sorted({r["n"] for r in recs}):
            rs = [r for r in recs if r["n"] == n]
            learners = list(rs[0]["learners"])
            entry = {"trials": len(rs), "mean_seconds": float(np.mean([r["seconds"] for r in rs]))}
            for o in ("relapse", "rfs"):
                entry[o] = {
                    label: {
                        "test_autoc": _rate(
                            _sig(r["learners"][label][o]["test_autoc_p"]) for r in rs
                        ),
                        "test_blp": _rate(_sig(r["learners"][label][o]["test_blp_p"]) for r in rs),
                        "naive_autoc": _rate(_sig(r["learners"][label][o]["autoc_p"]) for r in rs),
                        "naive_blp": _rate(_sig(r["learners"][label][o]["blp_beta_p"]) for r in rs),
                        **(
                            {
                                "spearman_mean": float(
                                    np.mean([r["learners"][label][o]["spearman"] for r in rs])
                                ),
                                "spearman_sd": float(
                                    np.std([r["learners"][label][o]["spearman"] for r in rs])
                                ),
                            }
                            if "spearman" in rs[0]["learners"][label][o]
                            else {}
                        ),
                    }
                    for label in learners
                }
                entry[o]["any_subgroup_holm"] = _rate(
                    _sig(r[f"subgroups_{o}"]["min_holm"]) for r in rs
                )
                entry[o]["any_subgroup_bh"] = _rate(_sig(r[f"subgroups_{o}"]["min_bh"]) for r in rs)
            entry["primary_or_any_subgroup_holm"] = _rate(
                _sig(r["learners"][primary]["relapse"]["test_autoc_p"])
                or _sig(r["subgroups_relapse"]["min_holm"])
                for r in rs
            )
            if "feature_ceiling" in rs[0]:
                entry["feature_ceiling"] = {
                    o: float(np.mean([r["feature_ceiling"][o] for r in rs]))
                    for o in ("relapse", "rfs")
                }
            if "harm" in rs[0]:
                h = [r["harm"] for r in rs]
                entry["harm"] = {
                    k: float(np.mean([x[k] for x in h]))
                    for k in (
                        "fraction_harmed",
                        "true_rfs_benefit_harmed",
                        "true_rfs_benefit_others",
                        "true_relapse_benefit_harmed",
                    )
                }
                entry["harm"]["learners"] = {
                    label: {
                        k: float(np.mean([x["learners"][label][k] for x in h]))
                        for k in h[0]["learners"][label]
                    }
                    for label in h[0]["learners"]
                }
            res[str(n)] = entry
        out[study] = res
    return out


def markdown(summary: dict) -> str:
    def pct(d):
        return (
            f"{100 * d['rate']:.1f}% ({100 * d['ci_low']:.1f}–{100 * d['ci_high']:.1f}; "
            f"{d['k']}/{d['trials']})"
        )

    lines = [
        "# Benefit analysis on simulated trials",
        "",
        f"Significance level {summary['alpha']}; intervals are 95% Clopper–Pearson; "
        f"pre-specified test: AUTOC of `{summary['primary_learner']}` for relapse. "
        f"Simulator source fingerprint: {', '.join(summary['simulator'])}.",
        "",
    ]
    for study, title in (
        ("null", "Null scenario: false-positive rate"),
        ("power", "mrd_driven: power"),
    ):
        if study not in summary:
            continue
        lines += [
            f"## {title}",
            "",
            "| n | learner | outcome | AUTOC test (sequential) | BLP test (sequential) "
            "| naive AUTOC (all-data cross-fitted ranking held fixed) |",
            "|---|---|---|---|---|---|",
        ]
        for n, e in summary[study].items():
            for o in ("relapse", "rfs"):
                for label, d in e[o].items():
                    if label.startswith("any_"):
                        continue
                    lines.append(
                        f"| {n} | {label} | {o} | {pct(d['test_autoc'])} | "
                        f"{pct(d['test_blp'])} | {pct(d['naive_autoc'])} |"
                    )
                lines.append(
                    f"| {n} | any subgroup interaction (Holm) | {o} | "
                    f"{pct(e[o]['any_subgroup_holm'])} | | |"
                )
                lines.append(
                    f"| {n} | any subgroup interaction (BH) | {o} | "
                    f"{pct(e[o]['any_subgroup_bh'])} | | |"
                )
            lines.append(
                f"| {n} | primary AUTOC test or any Holm subgroup | relapse | "
                f"{pct(e['primary_or_any_subgroup_holm'])} | | |"
            )
        lines.append("")
    if "oracle" in summary:
        lines += [
            "## mrd_driven: power of the AUTOC test with the TRUE benefit as the ranking",
            "",
            "| n | relapse | relapse or death |",
            "|---|---|---|",
        ]
        for n, e in summary["oracle"].items():
            lines.append(f"| {n} | {pct(e['relapse'])} | {pct(e['rfs'])} |")
        lines.append("")
    if "spearman" in summary:
        lines += [
            "## mrd_driven, n = 2,000: Spearman with the true benefit",
            "",
            "| learner | relapse: mean (sd) | relapse or death: mean (sd) |",
            "|---|---|---|",
        ]
        for n, e in summary["spearman"].items():
            for label, d in e["relapse"].items():
                if label.startswith("any_"):
                    continue
                r = e["rfs"][label]
                lines.append(
                    f"| {label} | {d['spearman_mean']:.3f} ({d['spearman_sd']:.3f}) | "
                    f"{r['spearman_mean']:.3f} ({r['spearman_sd']:.3f}) |"
                )
            fc = e.get("feature_ceiling")
            if fc:
                lines.append(
                    f"| feature ceiling (XGBoost fitted on the true benefit, 5-fold) | "
                    f"{fc['relapse']:.3f} | {fc['rfs']:.3f} |"
                )
            lines.append(f"\n{e['trials']} trials of n = {n}.")
        lines.append("")
    if "harm" in summary:
        lines += [
            "## harm_subgroup: does the RFS benefit find the harmed?",
            "",
            "| n | learner | AUC (RFS benefit) | AUC (relapse benefit) | mean RFS benefit "
            "harmed / others | harmed with RFS benefit < 0 |",
            "|---|---|---|---|---|---|",
        ]
        for n, e in summary["harm"].items():
            h = e["harm"]
            for label, d in h["learners"].items():
                lines.append(
                    f"| {n} | {label} | {d['auc_rfs']:.3f} | {d['auc_relapse']:.3f} | "
                    f"{100 * d['rfs_harmed']:+.1f} / {100 * d['rfs_others']:+.1f} | "
                    f"{100 * d['share_harmed_negative_rfs']:.0f}% |"
                )
            lines.append(
                f"| {n} | truth | | | {100 * h['true_rfs_benefit_harmed']:+.1f} / "
                f"{100 * h['true_rfs_benefit_others']:+.1f} | |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="all", choices=[*STUDIES, "all", "individual"])
    ap.add_argument(
        "--n-trials",
        type=int,
        default=None,
        help="trials per study and size (default: each study's own)",
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--n-boot",
        type=int,
        default=200,
        help="bootstrap size (only used if the config asks for bootstrap SEs)",
    )
    ap.add_argument("--seed", type=int, default=1000, help="seed of the first trial")
    ap.add_argument("--jsonl", type=Path, default=JSONL)
    ap.add_argument("--summarize", action="store_true", help="only write the summary")
    args = ap.parse_args(argv)
    if args.study == "individual":
        return main_individual(args)
    studies = list(STUDIES) if args.study == "all" else [args.study]
    if not args.summarize:
        run(studies, args.n_trials, args.jobs, args.jsonl, args.n_boot, args.seed)
    primary = lean_config().primary_label
    summary = summarize(args.jsonl, primary)
    SUMMARY.write_text(json.dumps(summary, indent=1, default=float) + "\n")
    MARKDOWN.write_text(markdown(summary))
    print(f"wrote {SUMMARY} and {MARKDOWN}")
    return 0


def main_individual(args) -> int:
    sys.path.insert(0, str(HERE))
    from benefit_individual import run_study, summarize_individual

    path = RESULTS / "benefit_individual.jsonl"
    if not args.summarize:
        run_study(path, args.n_trials or 20, args.jobs, args.n_boot, args.seed)
    records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    summary, md = summarize_individual(records)
    (RESULTS / "benefit_individual.json").write_text(json.dumps(summary, indent=1, default=float))
    (RESULTS / "benefit_individual.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
