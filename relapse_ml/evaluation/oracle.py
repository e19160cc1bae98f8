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
