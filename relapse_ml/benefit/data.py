"""The benefit data step: randomized patients at risk at the landmark, and a simulated
cohort's true benefit when there is one (evaluation only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import BenefitConfig
from relapse_ml.errors import RelapseMLError

MIN_PER_ARM = 20
MIN_RELAPSES_PER_ARM = 5
TRUTH_COLUMNS = {"relapse": "benefit", "rfs": "rfs_benefit"}


@dataclass
class BenefitData:
    """Randomized patients at risk at the landmark: features (no arm), outcome, arm."""

    X: pd.DataFrame
    time: np.ndarray
    event: np.ndarray
    arm: np.ndarray  # 1 sorafenib, 0 control
    patient_id: np.ndarray
    tau: float
    n_not_randomized: int = 0

    @property
    def n(self) -> int:
        return len(self.time)

    def counts(self) -> dict[str, int]:
        by = {}
        for a, name in ((0, "control"), (1, "sorafenib")):
            m = self.arm == a
            by[name] = {
                "patients": int(m.sum()),
                "relapses": int((m & (self.event == 1)).sum()),
                "nrm": int((m & (self.event == 2)).sum()),
            }
        return by


def benefit_data(cohort, cfg: BenefitConfig) -> BenefitData:
    """The landmark data of the randomized patients; a clear error without two usable arms."""
    from relapse_ml.landmark import landmark_dataset

    if not cohort.has_arm:
        raise RelapseMLError(
            f"{cohort.name}: no treatment arm (column 'arm' absent or empty) — a benefit "
            "analysis compares sorafenib with control, so it needs a cohort with a randomized "
            "'arm' (e.g. one made by `relapse-ml simulate`)"
        )
    L, H = cfg.landmark.landmark_day, cfg.landmark.horizon_days
    ld = landmark_dataset(cohort, landmark_day=L, horizon_days=H, features=cfg.features)
    arms = (
        cohort.patients.assign(patient_id=cohort.patients["patient_id"].astype(str))
        .set_index("patient_id")["arm"]
        .reindex(ld.patient_id)
    )
    arm = np.where(arms.isin(["sorafenib"]), 1.0, np.where(arms.isin(["control"]), 0.0, np.nan))
    keep = ~np.isnan(arm)
    ld = ld.select(keep)
    data = BenefitData(
        X=ld.X.drop(columns=["arm"], errors="ignore"),
        time=ld.time,
        event=ld.event,
        arm=arm[keep].astype(int),
        patient_id=ld.patient_id,
        tau=cfg.tau,
        n_not_randomized=int((~keep).sum()),
    )
    need = max(MIN_PER_ARM, 2 * cfg.crossfit.n_folds)
    for name, c in data.counts().items():
        if c["patients"] < need or c["relapses"] < max(MIN_RELAPSES_PER_ARM, cfg.crossfit.n_folds):
            raise RelapseMLError(
                f"{cohort.name}: the {name} arm has {c['patients']} patients at risk at day "
                f"{L:g} with {c['relapses']} relapses within {H:g} days — too few to estimate "
                f"a benefit (need at least {need} patients and "
                f"{max(MIN_RELAPSES_PER_ARM, cfg.crossfit.n_folds)} relapses per arm)"
            )
    return data


def load_truth(cohort, cfg: BenefitConfig, patient_id) -> pd.DataFrame | None:
    """A simulated cohort's true benefit per patient (evaluation only), when its truth was
    computed at this landmark and horizon; else None."""
    path = getattr(cohort, "path", None)
    if path is None:
        return None
    truth_path, meta_path = Path(path) / "truth.csv", Path(path) / "meta.json"
    if not (truth_path.exists() and meta_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    if float(meta.get("landmark_day", -1)) != float(cfg.landmark.landmark_day) or float(
        meta.get("horizon_days", -1)
    ) != float(cfg.landmark.horizon_days):
        return None
    truth = pd.read_csv(truth_path, dtype={"patient_id": str})
    return align_truth(truth, patient_id)


def align_truth(truth: pd.DataFrame, patient_id) -> pd.DataFrame | None:
    """Truth rows in the order of ``patient_id`` (None when a column or patient is missing)."""
    if not set(TRUTH_COLUMNS.values()) <= set(truth.columns):
        return None
    t = truth.assign(patient_id=truth["patient_id"].astype(str)).set_index("patient_id")
    t = t.reindex(np.asarray(patient_id).astype(str))[list(TRUTH_COLUMNS.values())]
    return None if t.isna().all().any() else t.reset_index(drop=True)
