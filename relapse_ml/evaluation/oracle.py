"""Metrics of the simulation's oracle risk, and a model's metrics as a ratio to them.

The truth file's risk uses the latent disease state no model can see, so the oracle
is a ceiling, not a target (methods notes): read each model number beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.evaluation.scoring import HIGHER_IS_BETTER, TAU_METRICS, evaluate


def evaluate_oracle(
    time_train,
    event_train,
    time_test,
    event_test,
    risk_at_tau,
    tau: float,
    cause: int = 1,
    *,
    n_groups: int = 10,
    tables: bool = True,
) -> dict:
    """The horizon metrics (`TAU_METRICS`) of a risk vector with no time dimension.

    risk_at_tau: each test patient's true incidence of ``cause`` by ``tau``. The IPA's
        null model is Aalen–Johansen on the training data, as for any model.
    """
    risk = np.asarray(risk_at_tau, dtype=float).reshape(-1, 1)
    result = evaluate(
        time_train,
        event_train,
        time_test,
        event_test,
        risk,
        [tau],
        tau,
        cause,
        n_groups=n_groups,
        tables=tables,
    )
    keep = {"tau", "n_test", "n_cases_tau", *TAU_METRICS}
    if tables:
        keep.add("calibration_table")
    return {k: v for k, v in result.items() if k in keep}


def compare_with_oracle(model: dict, oracle: dict) -> pd.DataFrame:
    """Model and oracle side by side for the metrics both have, with ``ratio`` = model / oracle.

    For discrimination ratios below 1 show the gap to the best achievable; for the
    Brier score and ICI (lower is better) ratios above 1 do. ``higher_is_better`` says which.
    """
    names = [
        k
        for k in TAU_METRICS
        if isinstance(model.get(k), float) and isinstance(oracle.get(k), float)
    ]
    table = pd.DataFrame(
        {
            "model": [model[k] for k in names],
            "oracle": [oracle[k] for k in names],
        },
        index=pd.Index(names, name="metric"),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ratio"] = table["model"] / table["oracle"]
    table["higher_is_better"] = [HIGHER_IS_BETTER.get(k) for k in names]
    return table


def compare_by_landmark(time, event, landmark_day, model_risk, true_risk, tau: float,
                        cause: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model and oracle per landmark and pooled over the stacked rows, on the rows with truth.

    Every argument is per row of a (stacked) landmark data set. model_risk: the model's
    out-of-fold incidence of ``cause`` by ``tau``, ``(n_rows,)`` or ``(n_repeats, n_rows)``
    (metrics averaged over repeats); true_risk: the truth at the row's landmark, NaN where
    there is none. Both are scored by `evaluate_oracle` on the same rows, with the
    Aalen–Johansen of those rows as the IPA's null. Returns ``(table, coverage)``: table has
    one row per (landmark, metric) with ``model``, ``oracle``, ``ratio``,
    ``higher_is_better`` (landmark "pooled" for all rows with truth); coverage, indexed by
    landmark, has ``rows`` and ``rows_with_truth`` (0: that landmark has no truth).
    """
    day = np.asarray(landmark_day, dtype=float)
    truth = np.asarray(true_risk, dtype=float)
    risk = np.atleast_2d(np.asarray(model_risk, dtype=float))
    t, e = np.asarray(time, dtype=float), np.asarray(event)
    has = ~np.isnan(truth)
    days = np.unique(day)
    coverage = pd.DataFrame(
        {"rows": [int((day == d).sum()) for d in days],
         "rows_with_truth": [int((has & (day == d)).sum()) for d in days]},
        index=pd.Index(days, name="landmark"))
    groups = [(d, has & (day == d)) for d in days]
    if len(days) > 1:
        groups.append(("pooled", has))
    tables = []
    for label, m in groups:
        if not m.any() or not (e[m] == cause).any():
            continue
        oracle = evaluate_oracle(t[m], e[m], t[m], e[m], truth[m], tau, cause, tables=False)
        runs = [evaluate_oracle(t[m], e[m], t[m], e[m], r[m], tau, cause, tables=False)
                for r in risk]
        model = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]
                 if isinstance(runs[0][k], float)}
        tables.append(compare_with_oracle(model, oracle).reset_index().assign(landmark=label))
    cols = ["landmark", "metric", "model", "oracle", "ratio", "higher_is_better"]
    table = pd.concat(tables, ignore_index=True)[cols] if tables else pd.DataFrame(columns=cols)
    return table, coverage
