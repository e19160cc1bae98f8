"""Operating characteristics from ``results.csv``: rejection rates with exact intervals,
mean estimates, power-against-n figures, and the study's MLflow run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = (
    "scenario",
    "n",
    "analysis",
    "trials",
    "rejections",
    "rejection_rate",
    "ci_low",
    "ci_high",
    "mean_statistic",
    "mean_estimate",
    "sd_estimate",
    "mean_n_at_risk",
)
# the analyses drawn in the power figure, in this order
POWER_ANALYSES = (
    "relapse:gray",
    "relapse:hr",
    "relapse:incidence_diff",
    "rfs:gray",
    "heterogeneity:autoc",
    "subgroups:any",
    "oracle:relapse:autoc",
)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for k successes in n trials."""
    from scipy.stats import beta

    if n == 0:
        return np.nan, np.nan
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _reject(v) -> float:
    if isinstance(v, str):
        return {"True": 1.0, "False": 0.0}.get(v, np.nan)
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return np.nan
    return float(bool(v))


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, n and analysis: trials, rejection rate (power, or type-I error under
    the null) with its 95% Clopper–Pearson interval, and the mean estimates."""
    rows = []
    if results.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    df = results.assign(_r=results["reject"].map(_reject))
    for (scen, n, analysis), g in df.groupby(["scenario", "n", "analysis"], sort=False):
        tested = g["_r"].dropna()
        k, m = int(tested.sum()), int(tested.size)
        lo, hi = clopper_pearson(k, m)
        est = pd.to_numeric(g["estimate"], errors="coerce")
        rows.append(
            {
                "scenario": scen,
                "n": int(n),
                "analysis": analysis,
                "trials": int(len(g)),
                "rejections": k if m else np.nan,
                "rejection_rate": k / m if m else np.nan,
                "ci_low": lo,
                "ci_high": hi,
                "mean_statistic": float(pd.to_numeric(g["statistic"], errors="coerce").mean()),
                "mean_estimate": float(est.mean()) if est.notna().any() else np.nan,
                "sd_estimate": float(est.std()) if est.notna().sum() > 1 else np.nan,
                "mean_n_at_risk": float(pd.to_numeric(g["n_at_risk"], errors="coerce").mean()),
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def power_figures(summary: pd.DataFrame, out: Path, alpha: float) -> dict[str, Path]:
    """One figure per scenario: rejection rate (with 95% interval) against n."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for scen, g in summary.groupby("scenario", sort=False):
        fig, ax = plt.subplots(figsize=(6, 4))
        for analysis in POWER_ANALYSES:
            s = g[g["analysis"] == analysis].sort_values("n")
            if s.empty or s["rejection_rate"].isna().all():
                continue
            y = s["rejection_rate"].to_numpy(float)
            err = np.vstack([y - s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float) - y])
            ax.errorbar(s["n"], y, yerr=err, marker="o", capsize=3, label=analysis)
        ax.axhline(alpha, color="grey", ls=":", lw=1)
        ax.axhline(0.8, color="grey", ls="--", lw=0.8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("randomized patients (n)")
        ax.set_ylabel("rejection rate (power / type-I error)")
        ax.set_title(f"scenario {scen}")
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        path = out / f"power_{scen}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths[f"power_{scen}"] = path
    return paths


def log_design_run(cfg, out: Path, summary: pd.DataFrame, figures: dict, run) -> tuple[str, str]:
    """One MLflow run (kind ``design``): the config, rejection rates as metrics, summary
    and results tables and the figures as artifacts. Returns ``(run_id, tracking_uri)``."""
    import logging

    import mlflow

    from relapse_ml.config import flatten
    from relapse_ml.tracking.store import git_commit, mlflow_keys, resolve_tracking_uri

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    uri = resolve_tracking_uri(cfg.tracking.tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(cfg.tracking.experiment)
    with mlflow.start_run(run_name=cfg.name) as r:
        mlflow.set_tags(
            {
                "relapse_ml.kind": "design",
                "relapse_ml.data_name": f"simulated design study {cfg.name}",
                "relapse_ml.git_commit": git_commit() or "unknown",
                "design.out": str(out),
            }
        )
        flat = flatten(cfg)
        flat["landmark.landmark_day"] = str(cfg.landmark_day)
        flat["landmark.horizon_days"] = str(cfg.horizon_days)
        flat["trials_per_cell"] = str(run.tasks // max(1, len(cfg.scenarios) * len(cfg.sizes)))
        mlflow.log_params({k: v[:500] for k, v in flat.items()})
        metrics = {}
        for row in summary.itertuples(index=False):
            if np.isfinite(row.rejection_rate):
                key = f"{row.scenario}.n{row.n}.{row.analysis}".replace(":", ".")
                metrics[f"{key}.rejection_rate"] = float(row.rejection_rate)
        metrics["trials_computed"] = float(run.computed)
        metrics["trials_total"] = float(run.tasks)
        if run.trial_seconds:
            metrics["mean_trial_seconds"] = float(np.mean(run.trial_seconds))
        mlflow.log_metrics(mlflow_keys(metrics))
        mlflow.log_artifact(str(out / "summary.csv"), artifact_path="tables")
        mlflow.log_artifact(str(out / "results.csv"), artifact_path="tables")
        for path in figures.values():
            mlflow.log_artifact(str(path), artifact_path="figures")
        return r.info.run_id, uri


def read_table(path) -> pd.DataFrame:
    """Read ``results.csv`` / ``summary.csv``: only empty cells are missing, so that the
    scenario called "null" stays a name (pandas' default would read it as NaN)."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])
