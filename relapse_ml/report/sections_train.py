"""Sections of a training run: model comparison, oracle, discrimination, calibration, importance."""

from __future__ import annotations

import pandas as pd

from relapse_ml.report.html import (
    Section,
    ci_pair,
    fig,
    num,
    paragraph,
    table,
)

TRAIN_METRICS = (
    ("c_index", "C-index"),
    ("c_index_ipcw", "C-index (IPCW)"),
    ("auc_tau", "AUC(τ)"),
    ("brier_tau", "Brier(τ)"),
    ("ipa_tau", "IPA(τ)"),
    ("ibs", "IBS"),
    ("calibration_slope", "calibration slope"),
    ("ici", "ICI"),
)


def train_sections(record, linked: dict) -> list[Section]:
    final = record.tags.get("relapse_ml.final_model", "")
    tau = float(record.tags.get("relapse_ml.tau_days", "nan"))
    out = []
    metrics = record.csv("tables/metrics.csv")
    if metrics is not None and len(metrics):
        out.append(model_table(metrics, final, tau))
    oracle = record.csv("tables/oracle_comparison.csv")
    if oracle is not None and len(oracle):
        labels = dict(TRAIN_METRICS)
        rows = [
            [labels[r.metric], num(r.model), num(r.oracle), num(r.ratio, 2)]
            for r in oracle.itertuples()
            if r.metric in labels
        ]
        out.append(
            Section(
                "oracle",
                "Against the simulation oracle",
                "The oracle scores each patient with the simulator's true risk, which no model can "
                "see through noisy, censored measurements: it is a ceiling, not a target, and the "
                "ratio says how much of it the model reaches.",
                body=table(["metric", f"model ({final})", "oracle (true risk)", "ratio"], rows),
            )
        )
    path = record.figure("auc_over_time")
    if path is not None:
        out.append(
            Section(
                "discrimination",
                "Discrimination over time",
                "AUC(t) is the probability that a patient who relapsed by day t after the landmark "
                "was given a higher risk than one still free of relapse (alive or dead of another "
                "cause) at t, with censoring weights; 0.5 is a coin toss, 1 a perfect ranking.",
                figures=[fig(path, "Time-dependent AUC of each model, out-of-fold predictions.")],
            )
        )
    path = record.figure("calibration")
    if path is not None:
        slope = record.metrics.get(f"{final}.calibration_slope")
        ici = record.metrics.get(f"{final}.ici")
        out.append(
            Section(
                "calibration",
                "Calibration",
                "Each point is a group of patients with similar predicted relapse risk at τ: its "
                "mean prediction against the Aalen–Johansen incidence observed in it (95% interval); "
                "points on the dotted diagonal mean the predicted risks can be taken at face value.",
                figures=[fig(path, f"Calibration at {tau:g} days of {final} (out-of-fold).")],
                after=paragraph(
                    f"Calibration slope {num(slope, 2)} (1 is ideal; below 1 the "
                    f"predictions are too extreme), ICI {num(ici, 3)} (mean absolute "
                    "gap between predicted and smoothed observed risk).",
                    "note",
                ),
            )
        )
    path = record.figure("feature_importance")
    if path is not None:
        shap = final.startswith("xgb")
        if shap:
            scale = (
                "the mean absolute SHAP value (TreeSHAP) of each feature on the relapse "
                "cause-specific log hazard (margin scale) of the final model"
            )
        else:
            scale = (
                "the standardised coefficient of each feature in the relapse "
                "cause-specific model (log hazard ratio per standard deviation)"
            )
        out.append(
            Section(
                "importance",
                "Feature importance" + (" (SHAP summary)" if shap else ""),
                f"Bars show {scale}: how strongly the model's prediction moves with the feature, "
                "not whether the feature causes relapse.",
                figures=[fig(path, f"Largest contributions to the {final} relapse prediction.")],
            )
        )
    return out


def model_table(metrics: pd.DataFrame, final: str, tau: float) -> Section:
    wide = {(r.model, r.metric): r for r in metrics.itertuples()}
    models = list(dict.fromkeys(metrics["model"]))
    rows, classes = [], []
    for m in models:
        cells = [m + (" (final)" if m == final else "")]
        for key, _ in TRAIN_METRICS:
            r = wide.get((m, key))
            cells.append("–" if r is None else ci_pair(r.pooled, r.ci_low, r.ci_high))
        rows.append(cells)
        classes.append("final" if m == final else "")
    return Section(
        "models",
        "Model comparison",
        f"Out-of-fold performance at τ = {tau:g} days after the landmark with 95% bootstrap "
        "intervals: higher C-index, AUC and IPA and lower Brier, IBS and ICI are better, a "
        "calibration slope near 1 is ideal, and the Aalen–Johansen row is the no-information "
        "reference.",
        body=table(["model", *[label for _, label in TRAIN_METRICS]], rows, classes)
        + paragraph(
            "C-index: Wolbers' competing-risk concordance; IPA: index of prediction "
            "accuracy, 1 − Brier / Brier of the null model; pooled over folds, interval by "
            "bootstrap of patients (the final model's only, unless the run's configuration "
            "says evaluation.intervals: all).",
            "note",
        ),
    )
