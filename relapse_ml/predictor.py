"""`RelapseRiskPredictor`: a fitted model plus everything needed to use it on new patients.

It maps a feature frame to the cumulative incidence of relapse and of non-relapse death at
the configured horizons (days from the landmark) under both arms, and carries the feature
definition and training ranges (aggregates only) for out-of-distribution checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ARM_COLUMN = "arm"


@dataclass
class RelapseRiskPredictor:
    model: object  # a fitted CompetingRiskModel
    feature_columns: list[str]
    features: list[str] | None  # config feature names that rebuild the columns
    landmark_day: float
    horizon_days: float
    horizons: list[float]
    super_landmark: bool = False
    landmarks: list[float] = field(default_factory=list)
    training_ranges: dict[str, dict[str, float]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # model name, metrics, fingerprint, versions

    @property
    def arm_column(self) -> str | None:
        return ARM_COLUMN if ARM_COLUMN in self.feature_columns else None

    def output_columns(self) -> list[str]:
        arms = ("control", "sorafenib") if self.arm_column else ("observed",)
        return [f"{what}_{int(h)}d_{arm}" for h in self.horizons for what in ("relapse", "nrm")
                for arm in arms]

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Relapse and NRM incidence at each horizon, under each arm when the arm is a feature."""
        X = X.reindex(columns=self.feature_columns).astype(float)
        times = np.asarray(self.horizons, float)
        out = {}
        arms = {"control": 0.0, "sorafenib": 1.0} if self.arm_column else {"observed": None}
        for arm, value in arms.items():
            Xa = X if value is None else X.assign(**{self.arm_column: value})
            ci = self.model.predict_cumulative_incidence(Xa, times)
            for j, h in enumerate(self.horizons):
                out[f"relapse_{int(h)}d_{arm}"] = ci[:, 1, j]
                out[f"nrm_{int(h)}d_{arm}"] = ci[:, 2, j]
        return pd.DataFrame(out, index=X.index)[self.output_columns()]


def training_ranges(X: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per-feature aggregates (min, 1st/99th percentile, max, share missing) — no patient rows."""
    out = {}
    for col in X.columns:
        if str(col).startswith("_obs:"):  # hidden marker histories: raw input, no feature
            continue
        v = X[col].to_numpy(float)
        ok = v[~np.isnan(v)]
        if ok.size == 0:
            out[col] = {"min": np.nan, "p01": np.nan, "p99": np.nan, "max": np.nan, "missing": 1.0}
            continue
        out[col] = {
            "min": float(ok.min()),
            "p01": float(np.quantile(ok, 0.01)),
            "p99": float(np.quantile(ok, 0.99)),
            "max": float(ok.max()),
            "missing": float(np.isnan(v).mean()),
        }
    return out
