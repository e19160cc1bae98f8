"""Sections of benefit and subgroups runs: average benefit, heterogeneity, calibration for
benefit, targeting curves, PATH, SHAP on the benefit, forest plots, exploratory subgroups."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.report.html import (
    OUTCOME_TEXT,
    Section,
    ci_pair,
    fig,
    num,
    paragraph,
    pct,
    pts,
    pval,
    table,
    with_ci,
)

KIND_WORDS = {
    "constant": "the trial's average effect for every patient: no evidence that a patient's "
    "benefit differs from the average",
    "risk": "the average effect following each patient's baseline risk (the average relative "
    "effect at that risk, PATH, or the average tilted towards it: see why): no evidence of "
    "effect modification beyond risk",
    "individual": "individual estimates: they predicted held-out patients' benefit better than "
    "the average",
}


def reported_section(rep: dict, assignment: str | None) -> Section:
    """The one reported estimate per outcome, which learner and why (aggregates only)."""
    rows = [
        [
            OUTCOME_TEXT.get(o, o),
            r.get("learner", ""),
            KIND_WORDS.get(r.get("kind"), r.get("kind", "")),
            pts(r.get("mean")),
            pts(r.get("median_interval_width")),
            r.get("reason", ""),
        ]
        for o, r in rep.items()
    ]
    text = (
        "Each patient is told one estimate per outcome, chosen by the cross-fitted τ-risk "
        "(error against doubly robust pseudo-outcomes on held-out patients) over every learner, "
        "the average effect included; its 95% interval comes from a bootstrap that re-runs the "
        "choice. An interval covers the estimate's sampling error, not how far one patient's own "
        "benefit may lie from it."
    )
    if assignment == "observational":
        text += " OBSERVATIONAL comparison: the arm was not randomized."
    return Section(
        "reported-benefit",
        "The reported individual benefit",
        text,
        body=table(
            ["outcome", "learner", "what it is", "mean, points", "median interval width", "why"],
            rows,
        ),
    )


def benefit_sections(record, linked: dict) -> list[Section]:
    summary = record.json("tables/benefit_summary.json") or {}
    tau = float(summary.get("tau_days") or record.tags.get("relapse_ml.tau_days", "nan"))
    primary = record.tags.get("relapse_ml.primary_learner") or summary.get("primary_learner", "")
    out = []
    avg = summary.get("average_benefit")
    if avg:
        rows = [
            [
                OUTCOME_TEXT.get(o, o),
                with_ci(a.get("dr_estimate"), a.get("dr_low"), a.get("dr_high"), pts),
                pct(a.get("aj_inc_control")),
                pct(a.get("aj_inc_sorafenib")),
                with_ci(a.get("aj_diff"), a.get("aj_diff_low"), a.get("aj_diff_high"), pts),
            ]
            for o, a in avg.items()
        ]
        out.append(
            Section(
                "average-benefit",
                "Average benefit of sorafenib",
                f"The benefit is the absolute reduction in risk by {tau:g} days after the landmark, "
                "control minus sorafenib in percentage points (positive favours sorafenib): the "
                "doubly robust estimate adjusts for the features, the Aalen–Johansen difference does "
                "not, and both rest on the randomization.",
                body=table(
                    [
                        "outcome",
                        "doubly robust (95% CI), points",
                        "Aalen–Johansen control",
                        "Aalen–Johansen sorafenib",
                        "difference (95% CI), points",
                    ],
                    rows,
                ),
            )
        )
    rep = summary.get("reported")
    if rep:
        out.append(reported_section(rep, summary.get("assignment")))
    metrics = record.csv("tables/benefit_metrics.csv")
    if metrics is not None and len(metrics):
        out.append(learner_table(metrics, summary.get("heterogeneity_test") or {}, primary))
    figs = [
        fig(p, f"Calibration for benefit, {OUTCOME_TEXT.get(n.rsplit('_', 1)[-1], n)}.")
        for n, p in record.figures_like("benefit_calibration_")
    ]
    if figs:
        out.append(
            Section(
                "benefit-calibration",
                "Calibration for benefit",
                "Patients grouped by predicted benefit: the mean prediction against the benefit "
                "observed in the group (difference of Aalen–Johansen incidences between arms, 95% "
                "interval); points along the diagonal mean the predicted benefit is the benefit seen, "
                "points along a flat line mean the predictions do not separate patients.",
                figures=figs,
            )
        )
    figs = [
        fig(
            p,
            f"{'TOC' if n.startswith('toc') else 'Qini curve'}, "
            f"{OUTCOME_TEXT.get(n.split('_', 1)[1], n)}.",
        )
        for n, p in [*record.figures_like("toc_"), *record.figures_like("qini_")]
    ]
    if figs:
        out.append(
            Section(
                "toc",
                "Targeting: TOC and Qini curves",
                "TOC(q) is how much larger the benefit is among the fraction q of patients ranked "
                "highest by predicted benefit than among all (doubly robust scores): a curve above "
                "zero means the ranking finds those who benefit more, and its average is the AUTOC.",
                figures=figs,
            )
        )
    figs = [
        fig(p, f"Benefit by baseline-risk group, {OUTCOME_TEXT.get(n.split('_', 2)[2], n)}.")
        for n, p in record.figures_like("risk_based_")
    ]
    if figs:
        out.append(
            Section(
                "risk-based",
                "Benefit by baseline risk (PATH)",
                "The observed benefit (Aalen–Johansen difference between arms) within groups of "
                "baseline predicted risk: a benefit growing with baseline risk is expected even when "
                "the relative effect (hazard ratio) is the same for everyone.",
                figures=figs,
            )
        )
    out += benefit_shap(record, summary)
    sub = linked.get("subgroups")
    if sub is not None:
        out += forest_sections(sub, note=f"From subgroups run {sub.run_id} on the same data.")
    return out


def learner_table(metrics: pd.DataFrame, decision: dict, primary: str) -> Section:
    wide = metrics.pivot_table(
        index=["learner", "outcome"], columns="metric", values="value", sort=False
    )
    truth = "truth_spearman" in wide.columns
    rows, classes = [], []
    for (learner, outcome), r in wide.iterrows():
        g = r.get
        cells = [
            learner + (" (primary)" if learner == primary else ""),
            OUTCOME_TEXT.get(outcome, outcome),
            pts(g("mean_benefit")),
            ci_pair(g("autoc"), g("autoc_low"), g("autoc_high")),
            pval(g("test_autoc_p")),
            pval(g("test_blp_p")),
            ci_pair(g("c_for_benefit"), g("c_for_benefit_low"), g("c_for_benefit_high")),
        ]
        if truth:
            cells += [num(g("truth_spearman"), 2), num(g("truth_rmse"), 3)]
        rows.append(cells)
        classes.append("final" if learner == primary else "")
    headers = [
        "learner",
        "outcome",
        "mean benefit (points)",
        "AUTOC (95% CI, descriptive)",
        "test AUTOC p",
        "test BLP p",
        "c-for-benefit (95% CI)",
    ]
    if truth:
        headers += ["ρ with true benefit", "RMSE vs truth"]
    body = table(headers, rows, classes, left=2)
    if decision:
        verdict = (
            "the estimates do separate patients who benefit more from those who benefit less"
            if decision.get("heterogeneity_detected")
            else "no evidence that the estimates separate who benefits more"
        )
        body = (
            paragraph(
                f"Pre-specified test ({decision.get('test', 'AUTOC')}, learner "
                f"{decision.get('learner')}, {decision.get('outcome')}): p = "
                f"{pval(decision.get('test_autoc_p'))} — {verdict}."
            )
            + body
        )
    body += paragraph(
        "The AUTOC interval holds the estimates fixed and is too narrow; the test "
        "p-values come from sequential validation (learner and nuisance fitted on "
        "earlier folds only). ρ and RMSE compare with the simulator's true benefit.",
        "note",
    )
    return Section(
        "heterogeneity",
        "Who benefits more: learners and the heterogeneity test",
        "Whether the estimates can tell patients who benefit more from those who benefit less: "
        "an AUTOC above zero with a small test p says the ranking finds real differences, and a "
        "c-for-benefit of 0.5 is chance.",
        body=body,
    )


def benefit_shap(record, summary: dict) -> list[Section]:
    out = []
    explain = summary.get("explain") or {}
    sur = explain.get("surrogate") or {}
    figs = []
    for name, path in record.figures_like("shap_benefit_"):
        o = name.removeprefix("shap_benefit_")
        s = sur.get(o, {})
        figs.append(
            fig(
                path,
                f"SHAP on the estimated {OUTCOME_TEXT.get(o, o)} benefit; "
                f"surrogate R² {num(s.get('r2_in_sample'), 2)} in-sample, "
                f"{num(s.get('r2_out_of_fold'), 2)} out-of-fold.",
            )
        )
    for name, path in record.figures_like("shap_dependence_"):
        rest = name.removeprefix("shap_dependence_")
        o, _, feat = rest.partition("_")
        figs.append(fig(path, f"Dependence of the {OUTCOME_TEXT.get(o, o)} benefit on {feat}."))
    constant = [OUTCOME_TEXT.get(o, o) for o, v in sur.items() if v.get("constant")]
    if figs or constant:
        note = explain.get("note", "")
        if constant:
            note = (
                f"The reported {' and '.join(constant)} benefit is the same for every patient "
                "(the average effect): there is nothing for SHAP to explain. " + note
            )
        out.append(
            Section(
                "shap-benefit",
                "SHAP on the benefit",
                "Each dot is a patient: the SHAP value of a feature for a tree surrogate of the "
                "reported benefit estimates, on the benefit's own scale (percentage points "
                "of absolute risk reduction), coloured by the feature's value; it describes the "
                "model, not causation, and is only as trustworthy as the surrogate's R².",
                figures=figs,
                after=paragraph(note, "note") if note else "",
            )
        )
    path = record.figure("shap_relapse_risk")
    if path is not None:
        scale = (explain.get("risk_model") or {}).get("scale")
        out.append(
            Section(
                "shap-risk",
                "SHAP on the relapse-risk model",
                "Each dot is a patient: how much a feature moves the relapse-risk model's log hazard "
                "of relapse (margin scale, positive raises the risk at every horizon), coloured by the "
                "feature's value; it describes the model, not causation.",
                figures=[
                    fig(path, "SHAP summary of the relapse-risk model (arm included as a feature).")
                ],
                after=paragraph(f"Scale: {scale}.", "note") if scale else "",
            )
        )
    return out


# -- subgroups runs -------------------------------------------------------------------------
def forest_sections(record, note: str = "") -> list[Section]:
    figs = [
        fig(p, f"Pre-specified subgroups, {OUTCOME_TEXT.get(n.removeprefix('forest_'), n)}.")
        for n, p in record.figures_like("forest_")
    ]
    if not figs:
        return []
    return [
        Section(
            "forest",
            "Subgroups (forest plot)",
            "Hazard ratio of sorafenib against control with its 95% interval in each pre-specified "
            "subgroup (log scale, left of 1 favours sorafenib), with the absolute difference and the "
            "interaction p-value corrected for multiplicity (Holm, BH): a subgroup finding is a "
            "hypothesis unless its interaction test survives the correction.",
            body=paragraph(note, "note") if note else "",
            figures=figs,
        )
    ]


def subgroup_sections(record, linked: dict) -> list[Section]:
    out = forest_sections(record)
    ex = record.csv("tables/exploratory_subgroups.csv")
    if ex is not None and len(ex):
        rows = [
            [
                r.rule,
                int(r.n_discovery),
                num(getattr(r, "mean_estimate_discovery", np.nan), 3),
                int(r.n_test),
                pts(r.diff),
                with_ci(r.hr, r.hr_low, r.hr_high, lambda x: num(x, 2)),
                pval(r.interaction_p),
            ]
            for r in ex.itertuples()
        ]
        out.append(
            Section(
                "exploratory",
                "Exploratory subgroups (honest split)",
                "Groups found by a shallow tree on one half of the patients and tested on the other "
                "half: only the test-half numbers are evidence, and even they are hypotheses to "
                "confirm.",
                body=table(
                    [
                        "leaf rule",
                        "n discovery",
                        "mean estimate (discovery)",
                        "n test",
                        "difference in test half (points)",
                        "HR in test half (95% CI)",
                        "interaction p",
                    ],
                    rows,
                ),
            )
        )
    return out
