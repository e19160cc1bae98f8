"""The ``individual`` study of `benefit_simulation.py` (issue 9): is the reported individual
benefit more accurate than the trial's average, and do its intervals cover the truth?

One trial = one simulated trial (scenario, n, seed) analysed as ``relapse-ml benefit`` does:
every default learner cross-fitted, the yardstick, the reported estimate and its bootstrap
that re-runs the selection (``--n-boot`` replicates). Modelling never reads the truth; it
is read afterwards, for: RMSE of the reported estimate ÷ RMSE of the trial's Aalen–Johansen
average given to everyone, coverage of the 95% intervals, Spearman with the truth (and that
of a careful cross-fitted cause-specific Cox S-learner, arm × MRD, age, adverse
cytogenetics, aGVHD), the pre-specified heterogeneity test and Holm-corrected subgroups
(their false-positive rate under the null), and whether the yardstick's best learner is
the truly best one.
"""

from __future__ import annotations

import time

import numpy as np
from benefit_simulation import gate_stats, mean_range

SCENARIOS = ("null", "uniform", "mrd_driven", "harm_subgroup", "cytogenetics_driven")
SIZES = (346, 1000, 3000)
COX_INTERACTIONS = ("mrd_mfc_latest", "age", "cytogenetic_risk_adverse", "agvhd_max_grade")


def run_individual(scenario: str, n: int, seed: int, n_boot: int, lean: bool = False) -> dict:
    """One trial's record; ``lean``: the reported estimate and the learners only — no careful
    Cox peer, no heterogeneity test, no subgroups, no ceiling (columns that do not depend on
    the reported rule; left empty), about a third of the cost at n = 3,000."""
    import warnings

    from relapse_ml.benefit import run as R
    from relapse_ml.benefit.arm_stats import holm
    from relapse_ml.benefit.heterogeneity import truth_agreement
    from relapse_ml.benefit.prediction import control_risk, shaped_variance, widen
    from relapse_ml.benefit.subgroups import configured_levels, interaction_pvalues
    from relapse_ml.models import make_model  # noqa: F401  (fail early if models are broken)

    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    trial, cohort, cfg, data, folds = setup_trial(scenario, n, seed, n_boot)
    estimates, _, cache = R.cross_fit_learners(cfg, data, lambda *a: None, folds=folds)
    rep, est, lo, hi, info = R.reported_step(cfg, data, folds, cache, estimates, lambda *a: None)
    shape_risk = control_risk(rep.risk_model, data.X) if rep.risk_model is not None else {}
    # ---- modelling ends here; the truth is read only below ----
    truth = R.align_truth(trial.truth, data.patient_id)
    rows = R.reported_truth_rows(est, lo, hi, data, truth)
    rec = {
        "study": "individual",
        "scenario": scenario,
        "n": n,
        "seed": seed,
        "n_at_risk": data.n,
        "n_boot": n_boot,
        "bootstrap_ok": info.get("n_ok", 0),
        "reported": {},
        "learners": {},
    }
    for r in rows:
        rec["reported"].setdefault(r["outcome"], {})[f"{r['learner']}.{r['metric']}"] = r["value"]
    yard = rep.yardstick.set_index(["learner", "outcome"])
    unexplained = info.get("unexplained", {})
    for o in ("relapse", "rfs"):
        true = truth[R.TRUTH_COLUMNS[o]].to_numpy(float)
        if o in unexplained:  # the estimate's own interval (before the widening), compared
            u = unexplained[o]
            s2_i = shaped_variance(u["sigma2"], rep.interval_shape.get(o),
                                   shape_risk.get(o))  # each patient's σ² (intervals.shape)
            lo0, hi0 = unwiden(est[o], lo[o], hi[o], s2_i, cfg.intervals.level)
            rec["reported"][o]["coverage_estimate_only"] = float(
                np.mean((lo0 <= true) & (true <= hi0))
            )
            # the same σ_u² for every patient (intervals.shape constant), paired
            lo2, hi2 = widen(est[o], lo0, hi0, u["sigma2"], cfg.intervals.level)
            rec["reported"][o]["coverage_constant_shape"] = float(
                np.mean((lo2 <= true) & (true <= hi2))
            )
            rec["reported"][o]["median_width_constant_shape"] = float(np.median(hi2 - lo2))
            # the stop-22 rule, V = max(V_path, best D_L), on the same trial (paired)
            s2 = max(0.0, max(u["v_path"], u["explained_best"]) - u["explained_reported"])
            lo1, hi1 = widen(est[o], lo0, hi0, s2, cfg.intervals.level)
            rec["reported"][o]["coverage_max_rule"] = float(np.mean((lo1 <= true) & (true <= hi1)))
            rec["reported"][o].update({f"interval_{k}": v for k, v in u.items()})
        rec["reported"][o]["median_width"] = float(np.median(hi[o] - lo[o]))
        rec["reported"][o]["choice"] = rep.choices[o].learner
        rec["reported"][o]["kind"] = rep.choices[o].kind
        rec["reported"][o]["method"] = rep.choices[o].method
        rec["reported"][o].update(gate_stats(rep.choices[o].reason))  # the stack gate's z
        rec["reported"][o]["no_missing"] = bool(
            np.isfinite(est[o]).all() and np.isfinite(lo[o]).all() and np.isfinite(hi[o]).all()
        )
        true = truth[R.TRUTH_COLUMNS[o]].to_numpy(float)
        per = {}
        for label, e in estimates.items():
            agree = truth_agreement(e.benefit[o], true)
            per[label] = {
                "rmse": agree["rmse"],
                "spearman": agree["spearman"],
                "tau_risk": float(yard.loc[(label, o), "tau_risk"]),
            }
        rec["learners"][o] = per
        if o == "relapse" and not lean:  # the table's outcome
            rec["reported"][o]["ceiling_rmse_ratio"] = ceiling_ratio(data.X, true)
        truly_best = min(per, key=lambda k: per[k]["rmse"])
        picked = min(per, key=lambda k: per[k]["tau_risk"])
        rec["reported"][o]["truly_best"] = truly_best
        rec["reported"][o]["yardstick_best"] = picked
        rec["reported"][o]["yardstick_regret"] = per[picked]["rmse"] / per[truly_best]["rmse"]
    if lean:
        rec.update(cox_spearman={"relapse": None, "rfs": None}, test_autoc_p=None,
                   min_holm_relapse=None, lean=True, seconds=time.perf_counter() - start)
        return rec
    peer = cox_peer(cfg, data, folds, truth)
    rec["cox_spearman"] = {o: v["spearman"] for o, v in peer["agreement"].items()}
    if "failed" in peer:
        rec["cox_failed"] = peer["failed"]
    seq = R.sequential_validation(cfg, data, specs=[cfg.learner(cfg.primary_label)], n_boot=100)
    rec["test_autoc_p"] = seq.get((cfg.primary_label, "relapse"), {}).get("autoc", {}).get("p")
    levels = configured_levels(cohort, data.patient_id, cfg)
    p = interaction_pvalues(data.time, data.event, data.arm, levels, "relapse")
    vals = np.array(list(p.values()), float)
    rec["min_holm_relapse"] = float(np.nanmin(holm(vals))) if np.isfinite(vals).any() else None
    rec["seconds"] = time.perf_counter() - start
    return rec


def setup_trial(scenario: str, n: int, seed: int, n_boot: int):
    """One simulated trial analysed as ``relapse-ml benefit`` does, up to the learners: the
    trial (with its truth), its cohort, the study's config, the analysis data and the
    cross-fitting folds."""
    from benefit_simulation import lean_config

    from relapse_ml.benefit import run as R
    from relapse_ml.benefit.learners import make_folds
    from relapse_ml.simulate import simulate_trial

    trial = simulate_trial(n=n, seed=seed, scenario=scenario, truth=True)
    cohort = trial.to_cohort()
    cfg = lean_config(n_boot=100, interval_boot=n_boot)
    # one process per trial (the study runs trials one after another)
    cfg = cfg.model_copy(update={"intervals": cfg.intervals.model_copy(update={"n_jobs": 1})})
    data = R.benefit_data(cohort, cfg)
    folds = make_folds(data.arm, data.event, cfg.crossfit.n_folds, cfg.crossfit.seed)
    return trial, cohort, cfg, data, folds


def cox_peer(cfg, data, folds, truth) -> dict:
    """The careful statistician's peer: a cross-fitted cause-specific Cox S-learner with arm
    × MRD, age, adverse cytogenetics and aGVHD (penalizer 0.1), on the trial's own folds.
    ``{"agreement": {outcome: {"spearman", "rmse"}}}`` with the truth (evaluation only), and
    ``"failed"`` with the reason where its fit did not converge (values None)."""
    from relapse_ml.benefit import run as R
    from relapse_ml.benefit.config import LearnerSpec
    from relapse_ml.benefit.heterogeneity import truth_agreement
    from relapse_ml.errors import ModelError

    cox = LearnerSpec(
        kind="s",
        label="cox_careful",
        model={"name": "cox_cs", "params": {"penalizer": 0.1}},
        interactions=[c for c in COX_INTERACTIONS if c in data.X.columns],
    )
    try:  # a fit that fails is recorded as such, not a lost trial
        est, _, _ = R.cross_fit_learners(cfg, data, lambda *a: None, folds=folds, specs=[cox])
    except ModelError as err:
        return {"agreement": {o: {"spearman": None, "rmse": None} for o in R.TRUTH_COLUMNS},
                "failed": str(err)}
    agreement = {}
    for o in ("relapse", "rfs"):
        a = truth_agreement(est["cox_careful"].benefit[o], truth[R.TRUTH_COLUMNS[o]])
        agreement[o] = {"spearman": a["spearman"], "rmse": a["rmse"]}
    return {"agreement": agreement}


def ceiling_ratio(X, true) -> float:
    """What the recorded features can tell at best (evaluation only: fitted to the truth).

    RMSE of a 5-fold cross-fitted gradient-boosting regression of each patient's TRUE benefit
    on the analysis features, ÷ RMSE of the true mean benefit given to everyone — the ratio no
    learner, which sees outcomes rather than the truth, can expect to beat.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold, cross_val_predict

    true = np.asarray(true, float)
    model = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.1, random_state=0)
    pred = cross_val_predict(model, np.asarray(X, float), true,
                             cv=KFold(5, shuffle=True, random_state=0))
    average = np.sqrt(np.mean((true - true.mean()) ** 2))
    return float(np.sqrt(np.mean((pred - true) ** 2)) / average) if average > 0 else float("nan")


def unwiden(est, lo, hi, sigma2, level: float):
    """The bootstrap interval before `prediction.widen` (its inverse); ``sigma2`` one σ² or
    one per patient."""
    from scipy import stats

    extra = (stats.norm.ppf(0.5 + level / 2) ** 2) * np.maximum(np.asarray(sigma2, float), 0.0)
    return (
        est - np.sqrt(np.maximum((est - lo) ** 2 - extra, 0.0)),
        est + np.sqrt(np.maximum((hi - est) ** 2 - extra, 0.0)),
    )


def summarize_individual(records: list[dict]) -> tuple[dict, str]:
    """Per scenario and size: mean (min–max over trials) of each quantity; a markdown table."""
    recs = [r for r in records if r.get("study") == "individual"]
    out: dict = {}
    lines = [
        "## Individual benefit (issue 9): reported estimate vs the trial's average",
        "",
        "Relapse benefit at 730 days after the day-60 landmark. Each cell: mean over trials "
        "(min–max). RMSE ratio = RMSE of the reported estimate ÷ RMSE of the trial's "
        "Aalen–Johansen average given to everyone (< 1: the individual estimate adds "
        "information); ceiling: the same ratio for a cross-fitted gradient-boosting regression of "
        "the TRUE benefit on the recorded features (fitted to the truth — evaluation only), "
        "against the true mean given to everyone: what the recorded features can tell at "
        "best; RMSE columns in risk units. Coverage: share of patients whose true "
        "benefit lies in their 95% interval (the prediction interval of `benefit.prediction`; "
        "'estimate only': the bootstrap interval of the estimate before widening; width: "
        "median width in risk units; rfs: relapse or death; 'constant shape': the same trial's "
        "interval had every patient been widened by the same σ_u², `intervals.shape: "
        "constant`). Two columns count trials in which the "
        "pre-specified heterogeneity test / any Holm-corrected subgroup was significant at 5% "
        "(false positives under the null). Trials: all (with per-patient intervals: the "
        "interval columns are over these only; the others ran without the bootstrap, "
        "`--n-boot 0`, to afford more trials). ρ reported: over the trials that reported "
        "a non-constant estimate; 'average = 0': every trial, the average's ρ counted as 0.",
        "",
        "| scenario | n | trials | RMSE ratio | ceiling | RMSE reported | RMSE average | coverage | "
        "coverage, estimate only | width | coverage rfs | "
        "ρ reported | ρ reported, average = 0 | ρ careful Cox | reported = average | yardstick picks truly best | "
        "AUTOC test p<0.05 | any Holm subgroup p<0.05 | coverage, constant shape |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sc in SCENARIOS:
        for n in SIZES:
            rs = [r for r in recs if r["scenario"] == sc and r["n"] == n]
            if not rs:
                continue
            g = [r["reported"]["relapse"] for r in rs]
            rb = [r for r in rs if r["n_boot"] > 0]  # trials with intervals
            gb = [r["reported"]["relapse"] for r in rb]
            cell = {
                "trials": len(rs),
                "trials_with_intervals": len(rb),
                "n_boot": sorted({r["n_boot"] for r in rs}),
                "rmse_ratio": [x.get("reported.truth_rmse_ratio") for x in g],
                "ceiling": [x.get("ceiling_rmse_ratio") for x in g],
                "rmse_reported": [x.get("reported.truth_rmse") for x in g],
                "rmse_average": [x.get("trial_average.truth_rmse") for x in g],
                "coverage": [x.get("reported.truth_coverage") for x in gb],
                "coverage_estimate_only": [x.get("coverage_estimate_only") for x in gb],
                "coverage_constant_shape": [x.get("coverage_constant_shape") for x in gb],
                "median_width": [x.get("median_width") for x in gb],
                "coverage_rfs": [r["reported"]["rfs"].get("reported.truth_coverage") for r in rb],
                "spearman": [x.get("reported.truth_spearman") for x in g],
                "spearman_average_0": [
                    0.0 if x["kind"] == "constant" else x.get("reported.truth_spearman") for x in g
                ],
                "cox_spearman": [r["cox_spearman"]["relapse"] for r in rs],
                "kinds": [x["kind"] for x in g],
                "yardstick_picks_best": [x["yardstick_best"] == x["truly_best"] for x in g],
                "yardstick_regret": [x["yardstick_regret"] for x in g],
                "test_positive": [
                    r["test_autoc_p"] is not None and r["test_autoc_p"] < 0.05 for r in rs
                ],
                "holm_positive": [
                    r["min_holm_relapse"] is not None and r["min_holm_relapse"] < 0.05 for r in rs
                ],
                "no_missing": all(x["no_missing"] for x in gb),
                "mean_seconds": float(np.mean([r["seconds"] for r in rs])),
            }
            out[f"{sc}/{n}"] = cell
            k = len(rs)
            lines.append(
                f"| {sc} | {n:,} | {k} ({len(rb)}) | {mean_range(cell['rmse_ratio'])} | "
                f"{mean_range(cell['ceiling'])} | "
                f"{mean_range(cell['rmse_reported'], 3)} | {mean_range(cell['rmse_average'], 3)} | "
                f"{mean_range(cell['coverage'])} | {mean_range(cell['coverage_estimate_only'])} | "
                f"{mean_range(cell['median_width'], 3)} | {mean_range(cell['coverage_rfs'])} | "
                f"{mean_range(cell['spearman'])} | {mean_range(cell['spearman_average_0'])} | "
                f"{mean_range(cell['cox_spearman'])} | "
                f"{sum(x == 'constant' for x in cell['kinds'])}/{k} | "
                f"{sum(cell['yardstick_picks_best'])}/{k} | {sum(cell['test_positive'])}/{k} | "
                f"{sum(cell['holm_positive'])}/{k} | "
                f"{mean_range(cell['coverage_constant_shape'])} |"
            )
    boots = sorted({r["n_boot"] for r in recs})
    lines += ["", f"Bootstrap replicates per trial: {boots}; {len(recs)} trials in all "
              f"({sum(r['n_boot'] > 0 for r in recs)} with intervals); the careful Cox "
              f"S-learner's fit did not converge in {sum('cox_failed' in r for r in recs)} "
              "(its ρ left out there).", ""]
    return out, "\n".join(lines) + "\n"


def write_summary(path) -> str:
    """Summarise the JSON-lines trials in ``path`` (``<stem>.jsonl``) into ``<stem>.{json,md}``
    beside it; returns the markdown."""
    import json

    if not path.exists():
        return f"{path.name}: no trials yet"
    records = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    summary, md = summarize_individual(records)
    path.with_suffix(".json").write_text(json.dumps(summary, indent=1, default=float))
    path.with_suffix(".md").write_text(md)
    return md


def run_study(
    path, n_trials: int, jobs: int, n_boot: int, seed0: int, sizes=SIZES, scenarios=SCENARIOS
):
    """Run missing trials (resumable: one JSON line per finished trial in ``path``), seed by
    seed across every cell so that a run cut short leaves every cell with trials."""
    from benefit_simulation import append_trials, done_keys

    done = done_keys(path, ("scenario", "n", "seed"))
    cost = {346: 1, 1000: 2, 3000: 6}  # larger trials come later, in proportion to their cost
    tasks = sorted(
        (
            (sc, n, seed0 + i)
            for i in range(n_trials)
            for n in sizes
            for sc in scenarios
            if (sc, n, seed0 + i) not in done
        ),
        key=lambda t: ((t[2] - seed0 + 1) * cost.get(t[1], 1), t[1]),
    )
    append_trials(run_individual, tasks, n_boot, jobs, path, len(done), every=1)


def main(argv=None) -> int:
    """Run trials one after another (resumable) until ``--stop-at`` (UTC HH:MM), then
    summarise into ``results/benefit_individual.{json,md}``.

        nice -n 10 .venv/bin/python experiments/benefit_individual.py --sizes 346 1000 \
            --n-trials 20 --n-boot 25 --stop-at 09:35
    """
    import argparse
    import datetime as dt
    import json
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    from benefit_simulation import done_keys, stop_time

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--n-trials", type=int, default=20)
    ap.add_argument("--n-boot", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--stop-at", default=None, help="UTC HH:MM: start no trial after it")
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--lean", action="store_true",
                    help="the reported estimate only (no Cox peer, tests, subgroups, ceiling)")
    ap.add_argument("--tag", default=None,
                    help="write results/benefit_individual_TAG.{jsonl,json,md} (e.g. a new rule)")
    args = ap.parse_args(argv)
    results = here / "results"
    path = results / f"benefit_individual{'_' + args.tag if args.tag else ''}.jsonl"
    stop = stop_time(args.stop_at)
    if not args.summarize:
        done = done_keys(path, ("scenario", "n", "seed"))
        tasks = [
            (sc, n, args.seed + i)
            for i in range(args.n_trials)
            for n in args.sizes
            for sc in args.scenarios
            if (sc, n, args.seed + i) not in done
        ]
        print(f"{len(tasks)} trials to run ({len(done)} done)", flush=True)
        for k, t in enumerate(tasks, 1):
            if stop is not None and dt.datetime.now(dt.UTC) >= stop:
                print("stopped at --stop-at", flush=True)
                break
            try:
                rec = run_individual(*t, args.n_boot, lean=args.lean)
            except Exception as err:  # a failed trial is reported, not fatal
                print(f"  {t}: failed: {type(err).__name__}: {err}", flush=True)
                continue
            with path.open("a") as fh:
                fh.write(json.dumps(rec, default=float) + "\n")
            print(f"  {k}/{len(tasks)} {t} {rec['seconds']:.0f} s", flush=True)
    print(write_summary(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
