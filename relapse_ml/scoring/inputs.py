"""What a score is computed from: the model's feature matrix for a cohort at a visit day,
built by the training code, and the words for a horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.errors import ModelError
from relapse_ml.scoring.model import ScoringModel


def horizon_words(days: float) -> str:
    years = days / 365.0
    if abs(years - round(years)) < 1e-9 and round(years) >= 1:
        n = int(round(years))
        return f"{n} year" + ("s" if n > 1 else "")
    return f"{days:g} days"


def model_features(model: ScoringModel, cohort, landmark_day: float) -> pd.DataFrame:
    """The model's feature columns for every patient, built by the training code at L.

    `relapse_ml.features.build_features` (and ``add_landmark_columns`` for a
    super-landmark model) — the functions training used — so scores cannot drift from
    training. Levels of an extra string column that the patient does not have are 0
    (a one-patient cohort only produces the level it holds); an extra column absent from
    the record is a missing value (NaN, flagged by the ``missing_input`` warning).
    """
    from relapse_ml.features import build_features

    X = build_features(cohort, float(landmark_day), model.features)
    if model.super_landmark:
        from relapse_ml.landmark import add_landmark_columns

        X = add_landmark_columns(X, float(landmark_day))
    missing = [c for c in model.feature_columns if c not in X.columns]
    filled = set()
    for name, kind in (getattr(cohort, "extra_columns", {}) or {}).items():
        if kind != "string" or name not in cohort.patients:
            continue
        known = cohort.patients[name].notna().to_numpy()
        for c in missing:
            if c.startswith(f"extra_{name}_"):
                X[c] = np.where(known, 0.0, np.nan)
                filled.add(c)
    for c in missing:
        if c.startswith("extra_") and c not in filled:
            X[c] = np.nan  # an extra column the record lacks is a missing value, not an error
            filled.add(c)
    missing = [c for c in missing if c not in filled]
    if missing:
        raise ModelError(
            f"the features this relapse-ml builds lack {len(missing)} column(s) the model was "
            f"trained on ({', '.join(missing[:4])}); the model needs the training's feature "
            "definition (same relapse-ml version, same declared extra columns)"
        )
    return X[model.feature_columns].astype(float)
