"""Commands for who benefits from sorafenib: benefit, subgroups."""

from __future__ import annotations

from pathlib import Path

import typer

from relapse_ml.cli._common import emit_json, resolve_data

CONFIG_OPT = typer.Option(
    None,
    "--config",
    help="Benefit config (YAML, e.g. configs/benefit.yaml); default: built-in defaults.",
)
DATA_OPT = typer.Option(
    None,
    "--data",
    help="Cohort directory with a randomized 'arm' "
    "(default: the config's data, else the embedded demo cohort).",
)
JSON_OPT = typer.Option(False, "--json", help="Print a machine-readable JSON document.")
NO_TRACK_OPT = typer.Option(False, "--no-track", help="Do not log to MLflow.")
OUT_OPT = typer.Option(None, "--out", help="Also write figures and aggregate tables to DIR.")
SUBGROUPS_OUT_OPT = typer.Option(None, "--out", help="Write the forest plots and tables to DIR.")
PATIENTS_OPT = typer.Option(
    None,
    "--save-patient-estimates",
    help="Write each patient's estimates (and SHAP explanations) to FILE "
    "(.csv or .parquet). Patient-level: never sent to MLflow.",
)

EXPORT_OPT = typer.Option(
    None,
    "--export-benefit",
    help="Also write the reported estimate (and its bootstrap replicates) to DIR for "
    "`relapse-ml score --benefit DIR` (numbers only, no patient rows).",
)

OUTCOME_TEXT = {"relapse": "relapse", "rfs": "relapse or death"}


def _setup(config: Path | None, data: Path | None, as_json: bool):
    import sys

    from relapse_ml.benefit.config import BenefitConfig
    from relapse_ml.config import load_config

    cfg = load_config(config, model=BenefitConfig)
    data_dir = data if data is not None else (Path(cfg.data) if cfg.data else None)
    cohort = resolve_data(data_dir)
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    return cfg, cohort, say


def _pts(x: float) -> str:
    return "–" if x is None or x != x else f"{100 * x:+.1f}"


def _p(x: float) -> str:
    if x is None or x != x:
        return "–"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def benefit_cmd(
    config: Path | None = CONFIG_OPT,
    data: Path | None = DATA_OPT,
    as_json: bool = JSON_OPT,
    save_patient_estimates: Path | None = PATIENTS_OPT,
    out: Path | None = OUT_OPT,
    no_track: bool = NO_TRACK_OPT,
    export_benefit: Path | None = EXPORT_OPT,
) -> None:
    """Estimate each patient's benefit from sorafenib: cross-fitted learners judged by the
    τ-risk yardstick, one reported estimate (the average effect when the data cannot tell
    patients apart) with bootstrap intervals, SHAP, and one MLflow run."""
    from relapse_ml.benefit.outputs import check_patient_paths
    from relapse_ml.benefit.run import run_benefit
    from relapse_ml.utils import check_writable_dir

    if save_patient_estimates is not None:  # bad paths are refused before any work
        check_patient_paths(save_patient_estimates)
    if out is not None:
        check_writable_dir(out)
    cfg, cohort, say = _setup(config, data, as_json)
    result = run_benefit(
        cfg,
        cohort,
        track=not no_track,
        progress=say,
        save_patient_estimates=save_patient_estimates,
        out_dir=out,
        export_benefit=export_benefit,
    )
    if as_json:
        emit_json(result.summary())
        return
    tau = result.tau
    print(
        f"\naverage benefit at {tau:g} days after the landmark (control − sorafenib, "
        "percentage points; doubly robust, all patients):"
    )
    for o, a in result.average.items():
        print(
            f"  {OUTCOME_TEXT[o]:<17} {_pts(a['dr_estimate'])} (95% CI {_pts(a['dr_low'])} to "
            f"{_pts(a['dr_high'])});  Aalen–Johansen {100 * a['aj_inc_control']:.1f}% control "
            f"vs {100 * a['aj_inc_sorafenib']:.1f}% sorafenib"
        )
    m = result.metrics.pivot_table(
        index=["learner", "outcome"], columns="metric", values="value", sort=False
    )
    learners = [k for k in m.index if k[0] not in ("reported", "trial_average")]
    truth = "truth_spearman" in m.columns
    print(
        "\nper learner (cross-fitted): Δτ-risk = τ-risk minus the average effect's, on held-out "
        "doubly robust pseudo-outcomes\n(negative = closer to each patient's true benefit than "
        "the average; ± its paired SE); AUTOC and C-for-benefit rank, they do not measure error:"
    )
    print(
        f"  {'learner':<14}{'outcome':<9}{'mean':>7}{'Δτ-risk (SE)':>22}{'ΔR-loss':>10}"
        f"{'AUTOC':>8}{'C-benefit':>10}" + ("  ρ truth  RMSE" if truth else "")
    )
    for label, o in learners:
        r = m.loc[(label, o)]
        line = (
            f"  {label:<14}{o:<9}{_pts(r['mean_benefit']):>7}"
            f"{r.get('tau_risk_vs_constant', float('nan')):>+13.5f} "
            f"({r.get('tau_risk_vs_constant_se', float('nan')):.5f})"
            f"{r.get('r_loss_vs_constant', float('nan')):>+10.5f}"
            f"{r['autoc']:>+8.3f}{r['c_for_benefit']:>10.3f}"
        )
        if truth:
            line += f"  {r['truth_spearman']:>7.3f}{r['truth_rmse']:>6.3f}"
        print(line)
    h = result.heterogeneity
    verdict = (
        "the estimates do separate patients who benefit more from those who benefit less"
        if h["heterogeneity_detected"]
        else "no evidence that the estimates separate who benefits more"
    )
    print(
        f"\npre-specified heterogeneity test (AUTOC of {h['learner']}, relapse, sequential "
        f"validation, two-sided): p = {_p(h['test_autoc_p'])} — {verdict}."
    )
    print("\nreported estimate (chosen by the cross-fitted τ-risk over all learners):")
    info = result.intervals.get("reported", {})
    for o, rep in result.reported.items():
        what = {
            "constant": "the trial's average effect for every patient — no evidence that a "
            "patient's benefit differs from the average",
            "risk": "the average effect following each patient's baseline risk (the average "
            "relative effect at that risk, PATH, or the average tilted towards it: see why) — "
            "no evidence of effect modification beyond risk",
            "individual": "individual estimates",
        }[rep["kind"]]
        print(f"  {OUTCOME_TEXT[o]}: {rep['learner']} = {what}.")
        print(f"    why: {rep['reason']}.")
        if info.get("n_ok"):
            print(
                f"    {100 * info['level']:.0f}% intervals: bootstrap by patient re-running the "
                f"selection ({info['n_ok']}/{info['n_boot']} replicates; chosen: "
                + ", ".join(f"{k} {v}" for k, v in info["choices"][o].items())
                + f"); median width {100 * rep['median_interval_width']:.1f} points"
                + (" after the widening below" if info.get("unexplained") else "")
            )
            u = info.get("unexplained", {}).get(o)
            if u:
                from statistics import NormalDist

                z = NormalDist().inv_cdf(0.5 + info["level"] / 2)
                print(
                    f"      widened to cover each patient's own benefit by the spread the "
                    f"estimate leaves unexplained: ±{100 * z * u['sigma2'] ** 0.5:.1f} points"
                    + (" (root-mean-square over patients; each patient's in proportion to his "
                       "baseline risk)" if u.get("shape") == "risk" else "")
                    + f"; σ² {u['sigma2']:.4f} = max({u['v_path']:.4f}, the most a common "
                    f"relative effect allows, + {u['beyond_path']:.4f} of effect modification "
                    f"found beyond it by {u['best']}; {u['explained_best']:.4f}, the most a "
                    f"learner explains) − {u['explained_reported']:.4f} explained by the "
                    "estimate (docs/benefit.md)"
                )
        if truth:
            r, a = m.loc[("reported", o)], m.loc[("trial_average", o)]
            cover = r["truth_coverage"]
            cover = (f"interval coverage {cover:.2f}" if cover == cover
                     else "no intervals (intervals.n_boot < 2)")
            print(
                f"    against the simulation's truth: RMSE {r['truth_rmse']:.3f} vs "
                f"{a['truth_rmse']:.3f} for the trial average (ratio {r['truth_rmse_ratio']:.2f}),"
                f" ρ {r['truth_spearman']:.2f}, {cover}"
            )
    if result.observational:
        from relapse_ml.benefit.observational import OBSERVATIONAL_NOTE

        print(f"\n{OBSERVATIONAL_NOTE}")
    for label, info in result.intervals.items():
        if label == "reported":
            continue
        print(
            f"per-patient {100 * info['level']:.0f}% intervals ({label}): bootstrap of the fixed "
            f"learner, {info['n_ok']}/{info['n_boot']} refits; median width "
            f"{100 * info['median_width']['relapse']:.1f} points (relapse)"
        )
    for o, s in result.explain.get("surrogate", {}).items():
        if s.get("constant"):
            print(f"SHAP on the {OUTCOME_TEXT[o]} benefit: {s['note']}")
            continue
        print(
            f"SHAP on the reported {OUTCOME_TEXT[o]} benefit (tree surrogate, R² "
            f"{s['r2_in_sample']:.2f} in-sample, {s['r2_out_of_fold']:.2f} out-of-fold): "
            + ", ".join(s["top_features"])
        )
    if result.explain:
        print(f"  {result.explain['note']}")
    for key, path in result.saved.items():
        print(f"saved {key.replace('_', ' ')}: {path}")
    if result.run_id:
        from relapse_ml.tracking.store import ui_command

        print(f"\nMLflow run {result.run_id}; see it with: {ui_command(result.tracking_uri)}")
    print("Research estimates for decision support, never a treatment order.")


def subgroups_cmd(
    config: Path | None = CONFIG_OPT,
    data: Path | None = DATA_OPT,
    as_json: bool = JSON_OPT,
    out: Path | None = SUBGROUPS_OUT_OPT,
    no_track: bool = NO_TRACK_OPT,
) -> None:
    """Pre-specified subgroup analyses (forest plot, interaction tests, Holm and BH) and an
    honest exploratory split."""
    from relapse_ml.benefit.subgroups_run import run_subgroups
    from relapse_ml.utils import check_writable_dir

    if out is not None:
        check_writable_dir(out)
    cfg, cohort, say = _setup(config, data, as_json)
    result = run_subgroups(cfg, cohort, track=not no_track, progress=say, out_dir=out)
    if as_json:
        emit_json(result.summary())
        return
    for o, table in result.tables.items():
        ov = result.overall[o]
        print(
            f"\n{OUTCOME_TEXT[o]} by {result.tau:g} days after the landmark "
            "(Aalen–Johansen control vs sorafenib; HR sorafenib vs control):"
        )
        print(
            f"  {'all patients':<22}{ov['n']:>5} {100 * ov['inc_control']:>5.1f}% vs "
            f"{100 * ov['inc_sorafenib']:>5.1f}%  diff {_pts(ov['diff'])}  HR {ov['hr']:.2f} "
            f"({ov['hr_low']:.2f}–{ov['hr_high']:.2f})"
        )
        for name, part in table.groupby("subgroup", sort=False):
            first = part.iloc[0]
            print(
                f"  {name}: interaction p {_p(first['interaction_p'])} (Holm "
                f"{_p(first['p_holm'])}, BH {_p(first['p_bh'])})"
            )
            for r in part.itertuples(index=False):
                inc = (
                    f"{100 * r.inc_control:>5.1f}% vs {100 * r.inc_sorafenib:>5.1f}%  diff "
                    f"{_pts(r.diff)}"
                    if r.inc_control == r.inc_control
                    else ""
                )
                hr = f"  HR {r.hr:.2f} ({r.hr_low:.2f}–{r.hr_high:.2f})" if r.hr == r.hr else ""
                warn = f"  [{r.warning}]" if r.warning else ""
                print(f"    {r.level:<20}{r.n:>5} {inc}{hr}{warn}")
    ex = result.exploratory
    if ex is not None and ex["candidate"] is not None:
        c = ex["candidate"]
        print(
            f"\nexploratory (tree on {ex['learner']} estimates from {ex['n_discovery']} "
            f"patients, tested on the other {ex['n_test']}): candidate '{c['rule']}' — "
            f"test-half interaction p {_p(c['interaction_p'])}, diff {_pts(c.get('diff'))}"
        )
    for key, path in result.files.items():
        print(f"wrote {key}: {path}")
    if result.run_id:
        print(f"MLflow run {result.run_id}")
    print("Subgroup findings are hypotheses unless the interaction test survives correction.")
