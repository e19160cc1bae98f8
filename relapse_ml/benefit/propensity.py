"""P(arm = 1 | x): known in a randomized trial, else a cross-fitted logistic regression
(observational cohorts, `observational.py`), clipped away from 0 and 1."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import TreatmentConfig


def propensity_scores(
    X: pd.DataFrame,
    arm,
    folds,
    rows,
    treatment: TreatmentConfig,
    extra: frozenset = frozenset(),
    cache: dict | None = None,
) -> np.ndarray:
    """P(arm = 1 | x) for ``rows``: known in a trial; else a logistic regression fitted
    without the row's fold (and the folds in ``extra``), clipped.

    cache: fitted regressions by excluded folds, reused across calls on the same data.
    """
    n = len(arm)
    if treatment.assignment == "randomized":
        return np.full(n, treatment.probability)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cache = {} if cache is None else cache
    e = np.full(n, np.nan)
    for j in np.unique(folds[rows]):
        excluded = extra | {int(j)}
        if excluded not in cache:
            train = ~np.isin(folds, list(excluded))
            clf = make_pipeline(
                SimpleImputer(strategy="median", keep_empty_features=True),
                StandardScaler(),
                LogisticRegression(C=1.0, max_iter=1000),
            )
            cache[excluded] = clf.fit(X.loc[train], np.asarray(arm)[train])
        sel = rows & (folds == j)
        e[sel] = cache[excluded].predict_proba(X.loc[sel])[:, 1]
    return np.clip(e, treatment.clip, 1 - treatment.clip)


def fit_propensity(
    X_train: pd.DataFrame, arm_train, X_new: pd.DataFrame, treatment: TreatmentConfig
) -> np.ndarray:
    """P(arm = 1 | x) at ``X_new`` from a model fitted on the training rows only."""
    if treatment.assignment == "randomized":
        return np.full(len(X_new), treatment.probability)
    folds = np.r_[np.zeros(len(X_train), int), np.ones(len(X_new), int)]
    X = pd.concat([X_train, X_new], ignore_index=True)
    arm = np.r_[np.asarray(arm_train), np.zeros(len(X_new))]  # new rows' arm is never read
    return propensity_scores(X, arm, folds, folds == 1, treatment)[folds == 1]
