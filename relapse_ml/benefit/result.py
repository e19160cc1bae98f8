"""`BenefitResult`: what ``relapse-ml benefit`` produced (its own module, so that the
pipeline in ``run`` and the writers in ``outputs`` share it without an import cycle)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class BenefitResult:
    """What ``relapse-ml benefit`` produced. ``patient_estimates`` stays in memory unless the
    user asks for it to be saved."""

    cohort: str
    n: int
    counts: dict
    tau: float
    primary: str
    estimates: dict
    metrics: pd.DataFrame
    average: dict
    heterogeneity: dict
    calibration: dict
    risk_based: dict
    toc: dict
    explain: dict = field(default_factory=dict)
    intervals: dict = field(default_factory=dict)
    reported: dict = field(default_factory=dict)
    observational: bool = False
    patient_estimates: pd.DataFrame | None = None
    truth_used: bool = False
    n_not_randomized: int = 0
    run_id: str | None = None
    tracking_uri: str | None = None
    figures: dict = field(default_factory=dict)
    saved: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """A JSON-ready summary of aggregates (no patient rows)."""

        def records(df):
            return df.to_dict(orient="records")

        return {
            "cohort": self.cohort,
            "patients": self.n,
            "arms": self.counts,
            "not_randomized_left_out": self.n_not_randomized,
            "tau_days": self.tau,
            "primary_learner": self.primary,
            "assignment": "observational" if self.observational else "randomized",
            "reported": self.reported,
            "average_benefit": self.average,
            "heterogeneity_test": self.heterogeneity,
            "metrics": records(self.metrics),
            "calibration_for_benefit": {
                f"{k[0]}/{k[1]}": records(v) for k, v in self.calibration.items()
            },
            "risk_based": {o: records(v) for o, v in self.risk_based.items()},
            "explain": self.explain,
            "intervals": self.intervals,
            "truth_used": self.truth_used,
            "run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "figures": {k: str(v) for k, v in self.figures.items()},
            "saved": self.saved,
        }
