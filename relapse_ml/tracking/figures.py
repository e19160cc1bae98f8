"""Figures of a training run (aggregates only): incidence by arm, calibration, AUC(t), importance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def figures(result, ld, cohort, out_dir: Path) -> dict[str, Path]:
    """Figures of aggregates: incidence by arm, calibration, AUC(t), feature importance."""
    from relapse_ml import figures as F

    out = {}
    t_plot = np.linspace(0, float(ld.time.max()), 200)
    arms = cohort.patients.set_index("patient_id")["arm"].reindex(ld.patient_id).fillna("(no arm)") \
        if "arm" in cohort.patients else pd.Series(["all"] * len(ld))
    ax = F.plot_cif_by_group(ld.time, ld.event, arms.to_numpy(), t_plot,
                             title="Relapse and non-relapse death by arm, from the landmark")
    F.save(ax, out_dir / "cif_by_arm.png")
    out["cif_by_arm"] = out_dir / "cif_by_arm.png"

    cv = result.cv[result.final_model]
    table = cv.pooled[0].get("calibration_table")
    if table is not None and len(table):
        ax = F.plot_calibration(table, title=f"Calibration at {result.tau:g} days ({result.final_model}, out-of-fold)")
        F.save(ax, out_dir / "calibration.png")
        out["calibration"] = out_dir / "calibration.png"

    curves = {}
    for label, c in result.cv.items():
        by_time = c.pooled[0].get("by_time")
        if by_time is not None and "auc" in by_time:
            curves[label] = (by_time["time"].to_numpy(), by_time["auc"].to_numpy())
    if curves:
        ax = F.plot_auc_over_time(curves)
        F.save(ax, out_dir / "auc_over_time.png")
        out["auc_over_time"] = out_dir / "auc_over_time.png"

    names, values, what = feature_importance(result.predictor.model, ld.X)
    if names is not None:
        ax = F.plot_importance(names, values, title=what)
        F.save(ax, out_dir / "feature_importance.png")
        out["feature_importance"] = out_dir / "feature_importance.png"
    return out


def feature_importance(model, X: pd.DataFrame):
    """Mean |TreeSHAP| on the relapse log-hazard (XGBoost) or standardised Cox coefficients."""
    if hasattr(model, "shap_margin"):
        values, _ = model.shap_margin(X, cause=1)
        return list(model.feature_names_in_), np.abs(values).mean(axis=0), \
            "Mean |SHAP| on the relapse log-hazard (margin scale)"
    beta = getattr(model, "beta_std_", None)
    if isinstance(beta, dict) and 1 in beta:
        # coef_'s rows name every coefficient (landmark interactions `c:landmark` included)
        return [str(c) for c in model.coef_.index], np.asarray(beta[1], float), \
            "Relapse cause-specific log-HR per SD (Cox)"
    return None, None, None
