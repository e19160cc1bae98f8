"""How each serial marker enters the trajectory model: its scale and its censoring.

An MRD sample of 0 is below the detection limit; a report of 100 % donor chimerism means the
recipient cells were below what the assay detects. Both are LEFT-CENSORED values on the
model's scale, never exact ones (`relapse_ml.features.trajectory`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from relapse_ml.data.contract import MRD_DETECTION_LIMIT

# recipient cells (%) a chimerism assay detects: 1 % for STR-PCR, the usual method (1-5 %;
# qPCR 0.1 %); a report of 100 % donor cells means "below that", a left-censored value
CHIMERISM_DETECTION_LIMIT = 1.0


@dataclass(frozen=True)
class TrajectoryMarker:
    """How one marker enters the model: transform to a roughly normal scale, censoring."""

    name: str
    scale: str  # "log10" (log10 v, censored below the limit), "log10p1" (log10(v + 1)),
    #             "recipient" (log10(101 - donor %): 0 at full donor chimerism)
    detection_limit: float | None = None  # "log10": raw values <= 0 are censored at
    #   log10(limit); "recipient": full donor chimerism (100 %) is censored at the recipient
    #   share the assay detects (limit, %), i.e. log10(1 + limit) on the transformed scale
    worst: str = "max"  # same-day duplicates: the most worrying value

    def transform(self, v: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.scale == "log10":
                return np.log10(np.where(v > 0, v, np.nan))
            if self.scale == "log10p1":
                return np.log10(np.maximum(v, 0.0) + 1.0)
            return np.log10(101.0 - np.clip(v, 0.0, 100.0))

    def censored(self, v: np.ndarray) -> np.ndarray:
        if self.detection_limit is None:
            return np.zeros(v.shape, bool)
        if self.scale == "recipient":
            return v >= 100.0
        return v <= 0

    @property
    def limit(self) -> float:
        """The censoring point on the transformed scale (NaN when never censored)."""
        if not self.detection_limit:
            return np.nan
        if self.scale == "recipient":
            return float(np.log10(1.0 + self.detection_limit))
        return float(np.log10(self.detection_limit))


MARKERS: tuple[TrajectoryMarker, ...] = (
    TrajectoryMarker("mrd_mfc", "log10", MRD_DETECTION_LIMIT),
    TrajectoryMarker("wt1", "log10p1"),
    TrajectoryMarker("donor_chimerism", "recipient", CHIMERISM_DETECTION_LIMIT, worst="min"),
)


def markers_for(params) -> tuple[TrajectoryMarker, ...]:
    """The marker rules ``params`` (a `TrajectoryParams`) were fitted with: a model saved
    before full donor chimerism was read as censored keeps reading it as an exact value."""
    return tuple(replace(m, detection_limit=params.chimerism_limit)
                 if m.name == "donor_chimerism" else m for m in MARKERS)
