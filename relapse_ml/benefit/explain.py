"""SHAP on the benefit (via a tree surrogate) and on the relapse-risk model.

The benefit is explained through a small XGBoost regressor fitted to the cross-fitted
benefit estimates of the primary learner; its exact TreeSHAP values (from XGBoost itself,
``pred_contribs``) are on the benefit's own scale: absolute risk reduction at τ. How well
the surrogate reproduces the estimates (R², in-sample and out-of-fold) says how far its
explanation can be trusted to describe the learner. The relapse-risk model is explained
on its margin: the cause-specific log hazard of relapse (XGBoost TreeSHAP, or β·(x − x̄)
for a Cox model), which orders the risk at every horizon.

SHAP values describe what the model does with each feature, not what the feature does to
the patient: they are not causal effects. Every figure says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NOT_CAUSAL = "SHAP describes the model, not causation."


@dataclass
class Surrogate:
    """A tree model of the benefit estimates and its TreeSHAP values."""

    values: np.ndarray  # (n, p) on the benefit scale
    base: float
    fitted: np.ndarray
    r2: float  # in-sample: fidelity of the surrogate to the estimates it explains
    r2_cv: float  # out-of-fold: how much of the estimates' variation the features explain
    columns: list[str]


def _r2(y, pred) -> float:
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    ss = float(np.sum((y - y.mean()) ** 2))
    return float(1 - np.sum((y - pred) ** 2) / ss) if ss > 0 else np.nan


def benefit_surrogate(
    X: pd.DataFrame, benefit, params: dict, seed: int = 0, n_folds: int = 5
) -> Surrogate:
    """Fit the surrogate on all patients and report its in-sample and out-of-fold R²."""
    import xgboost as xgb

    y = np.asarray(benefit, float)
    arr = X.to_numpy(float)
    p = {
        "objective": "reg:squarederror",
        "eta": params.get("learning_rate", 0.05),
        "max_depth": params.get("max_depth", 3),
        "subsample": params.get("subsample", 1.0),
        "min_child_weight": params.get("min_child_weight", 1),
        "seed": seed,
        "nthread": 1,
        "verbosity": 0,
    }
    rounds = int(params.get("n_estimators", 200))
    booster = xgb.train(p, xgb.DMatrix(arr, label=y, missing=np.nan), rounds)
    dm = xgb.DMatrix(arr, missing=np.nan)
    fitted = booster.predict(dm)
    contribs = booster.predict(dm, pred_contribs=True)
    oof = np.empty_like(y)
    folds = np.random.default_rng(seed).permutation(y.size) % n_folds
    for k in range(n_folds):
        tr = folds != k
        b = xgb.train(p, xgb.DMatrix(arr[tr], label=y[tr], missing=np.nan), rounds)
        oof[~tr] = b.predict(xgb.DMatrix(arr[~tr], missing=np.nan))
    return Surrogate(
        values=contribs[:, :-1],
        base=float(contribs[0, -1]),
        fitted=fitted,
        r2=_r2(y, fitted),
        r2_cv=_r2(y, oof),
        columns=list(X.columns),
    )


def risk_shap(spec, X: pd.DataFrame, arm, time, event, tau: float):
    """SHAP of the relapse-risk model fitted on all patients with the arm as a feature.

    Returns ``(values (n, p), columns, data frame used, scale text)``.
    """
    from relapse_ml.models import make_model

    D = X.copy()
    D["arm"] = np.asarray(arm, float)
    params = dict(spec.params)
    if spec.name == "xgb_direct":
        params.setdefault("horizon", tau)
    model = make_model(spec.name, **params).fit(D, time, event)
    if hasattr(model, "shap_margin"):
        values, _ = model.shap_margin(D, cause=1)
        return (
            values,
            list(D.columns),
            D,
            (
                f"SHAP on the relapse cause-specific log hazard ({spec.name}, margin scale); "
                f"higher = higher relapse risk at every horizon, including {tau:g} days "
                "after the landmark"
            ),
        )
    beta = getattr(model, "beta_std_", None)
    if isinstance(beta, dict) and 1 in beta:
        Z = model.preprocessor_.transform(D[model.preprocessor_.columns_])
        values = Z * beta[1]  # exact SHAP of a linear margin with independent features
        cols = list(model.preprocessor_.columns_)
        return (
            values,
            cols,
            D[cols],
            (
                f"SHAP on the relapse cause-specific log hazard ({spec.name}: β·(x − mean)); "
                f"higher = higher relapse risk at every horizon, including {tau:g} days "
                "after the landmark"
            ),
        )
    return None, None, None, None


def top_features(values: np.ndarray, columns: list[str], k: int) -> list[str]:
    """The ``k`` columns with the largest mean |SHAP|."""
    order = np.argsort(-np.abs(values).mean(axis=0))
    return [columns[i] for i in order[:k]]


def importance_table(values: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Mean |SHAP| and mean SHAP per feature, largest first (an aggregate: no patient rows)."""
    return (
        pd.DataFrame(
            {
                "feature": columns,
                "mean_abs_shap": np.abs(values).mean(axis=0),
                "mean_shap": values.mean(axis=0),
            }
        )
        .sort_values("mean_abs_shap", ascending=False)
        .reset_index(drop=True)
    )


def patient_explanations(
    values: np.ndarray, base: float, X: pd.DataFrame, patient_id, rows, k: int = 8
) -> pd.DataFrame:
    """Long table: for each of ``rows``, its ``k`` largest SHAP contributions (patient-level:
    written only when the user asks for patient estimates)."""
    out = []
    for r in rows:
        order = np.argsort(-np.abs(values[r]))[:k]
        for j in order:
            out.append(
                {
                    "patient_id": str(patient_id[r]),
                    "feature": X.columns[j],
                    "value": float(X.iloc[r, j]),
                    "shap": float(values[r, j]),
                    "base": base,
                    "estimate": float(base + values[r].sum()),
                }
            )
    return pd.DataFrame(out)


def _note(fig, text: str) -> None:
    fig.text(0.01, 0.005, text, fontsize=7, ha="left", va="bottom", color="dimgrey")


def beeswarm(
    values: np.ndarray,
    data: pd.DataFrame,
    columns: list[str],
    title: str,
    scale: str,
    path,
    max_display: int = 15,
) -> None:
    """shap's summary (beeswarm) plot, titled, with its scale and the not-causal note."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    expl = shap.Explanation(
        values=values, data=data[columns].to_numpy(float), feature_names=columns
    )
    plt.figure()
    shap.plots.beeswarm(expl, max_display=max_display, show=False)
    fig = plt.gcf()
    fig.set_size_inches(8, 0.35 * min(max_display, len(columns)) + 2)
    fig.axes[0].set_title(title, fontsize=9)
    fig.axes[0].set_xlabel(f"SHAP value ({scale})", fontsize=8)
    _note(fig, NOT_CAUSAL)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def dependence(
    feature: str,
    X: pd.DataFrame,
    surrogate: Surrogate,
    risk: np.ndarray | None,
    tau: float,
    outcome_text: str,
    path,
) -> None:
    """Left: SHAP of the benefit vs the feature. Right: the learner's cross-fitted risk under
    control and under sorafenib vs the feature — the gap between the arms is the arm
    interaction the benefit is made of."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    j = surrogate.columns.index(feature)
    x = X[feature].to_numpy(float)
    ncols = 2 if risk is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 4), squeeze=False)
    positive = x[np.isfinite(x) & (x > 0)]
    # heavy-tailed markers (MRD %, WT1): a linear axis would squeeze nearly everyone into 0
    skewed = positive.size > 5 and np.nanmin(x) >= 0 and positive.max() > 50 * np.median(positive)
    ax = axes[0, 0]
    ax.scatter(x, surrogate.values[:, j], s=8, alpha=0.6)
    ax.axhline(0, color="grey", linestyle=":")
    ax.set_xlabel(feature)
    ax.set_ylabel("SHAP on the benefit (absolute risk reduction, 0-1)")
    ax.set_title(f"Benefit surrogate: {feature}", fontsize=9)
    if risk is not None:
        ax = axes[0, 1]
        ax.scatter(x, risk[:, 0], s=8, alpha=0.5, label="control", color="C3")
        ax.scatter(x, risk[:, 1], s=8, alpha=0.5, label="sorafenib", color="C2")
        ax.set_xlabel(feature)
        ax.set_ylabel(f"predicted {outcome_text} risk at {tau:g} days (cross-fitted)")
        ax.set_title("Risk under each arm (gap = benefit)", fontsize=9)
        ax.legend(fontsize=7)
    if skewed:
        for a in axes[0]:
            a.set_xscale("symlog", linthresh=float(np.quantile(positive, 0.1)))
    _note(fig, f"Scale: absolute risk at {tau:g} days after the landmark. {NOT_CAUSAL}")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def waterfall(
    values_row: np.ndarray,
    base: float,
    data_row: np.ndarray,
    columns: list[str],
    title: str,
    path,
    max_display: int = 10,
) -> None:
    """shap's waterfall plot for one patient (values in percentage points of benefit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    expl = shap.Explanation(
        values=values_row, base_values=base, data=data_row, feature_names=columns
    )
    plt.figure()
    shap.plots.waterfall(expl, max_display=max_display, show=False)
    fig = plt.gcf()
    fig.axes[0].set_title(title, fontsize=9)
    _note(fig, f"Scale: percentage points of absolute risk reduction. {NOT_CAUSAL}")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
