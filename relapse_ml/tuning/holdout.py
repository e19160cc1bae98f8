"""Honest validation of tuning: data the search never saw, judged once at the end.

``holdout``: a share of patients, stratified by their outcome, is set aside before the
study starts. ``nested``: K outer folds, one study per outer training part, each judged
on its outer test part. In both, the tuned parameters and the untuned ones (the config's
fixed ``params``, library defaults otherwise) are refitted on the same training rows and
scored on the same test rows, so their difference is the gain from tuning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

KEY_METRICS = (
    "c_index",
    "c_index_ipcw",
    "auc_tau",
    "brier_tau",
    "ipa_tau",
    "ibs",
    "calibration_slope",
    "ici",
)


def _patient_strata(ld) -> tuple[np.ndarray, np.ndarray]:
    """Unique patients and a stratum each: the event code of the patient's earliest landmark row."""
    order = np.lexsort((ld.landmark_day, ld.patient_id))
    pid, first = np.unique(ld.patient_id[order], return_index=True)
    return pid, ld.event[order][first]


def holdout_split(ld, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test) over rows: whole patients, stratified by outcome, seeded."""
    from sklearn.model_selection import train_test_split

    pid, strata = _patient_strata(ld)
    counts = np.bincount(strata)
    stratify = strata if counts[counts > 0].min() >= 2 else None
    _, test_ids = train_test_split(pid, test_size=fraction, random_state=seed, stratify=stratify)
    test = np.isin(ld.patient_id, test_ids)
    return ~test, test


def outer_folds(ld, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row masks (train, test) of K outer folds by patient, stratified by event code."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
    out = []
    for _, test in splitter.split(np.zeros(len(ld)), ld.event, ld.patient_id):
        mask = np.zeros(len(ld), dtype=bool)
        mask[test] = True
        out.append((~mask, mask))
    return out


def compare_on_test(
    ld_train,
    ld_test,
    fits: dict[str, tuple[str, dict]],
    grid,
    tau: float,
    n_boot: int = 200,
    seed: int = 0,
) -> dict:
    """Fit each named (model, params) on the training rows and score it on the test rows.

    fits: e.g. ``{"tuned": ("xgb_cs", {...}), "default": ("xgb_cs", {...})}``.
    Returns ``{"metrics": DataFrame (metric × name), "delta": DataFrame (metric × estimate,
    ci_low, ci_high)}`` where delta is tuned − default with a paired percentile bootstrap
    over test patients (the censoring weights stay those of the training rows), and
    ``"models"``: the fitted models.
    """
    from relapse_ml.evaluation import (
        EvaluationWarning,
        bootstrap_ci,
        clip_horizon,
        evaluate,
        scalar_metrics,
        times_inside,
    )
    from relapse_ml.models import make_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        grid = times_inside(np.union1d(grid, [tau]), ld_train.time, ld_test.time)
        tau = float(clip_horizon(tau, ld_train.time, ld_test.time, grid))
    models, cifs = {}, {}
    for label, (name, params) in fits.items():
        models[label] = make_model(name, **params).fit(ld_train.X, ld_train.time, ld_train.event)
        cifs[label] = models[label].predict_cif(ld_test.X, grid, cause=1)
    t_tr, e_tr = ld_train.time, ld_train.event

    def score(rows) -> dict[str, float]:
        out = {}
        for label, cif in cifs.items():
            m = scalar_metrics(
                evaluate(
                    t_tr,
                    e_tr,
                    ld_test.time[rows],
                    ld_test.event[rows],
                    cif[rows],
                    grid,
                    tau,
                    tables=False,
                )
            )
            out.update({f"{label}.{k}": m[k] for k in KEY_METRICS})
        if {"tuned", "default"} <= set(cifs):
            out.update({f"delta.{k}": out[f"tuned.{k}"] - out[f"default.{k}"] for k in KEY_METRICS})
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        ci = bootstrap_ci(
            score, np.arange(len(ld_test)), groups=ld_test.patient_id, n_boot=n_boot, seed=seed
        )
    metrics = pd.DataFrame(
        {label: [ci.loc[f"{label}.{k}", "estimate"] for k in KEY_METRICS] for label in cifs},
        index=list(KEY_METRICS),
    )
    delta = ci.loc[
        [i for i in ci.index if i.startswith("delta.")], ["estimate", "ci_low", "ci_high"]
    ]
    delta.index = [i.removeprefix("delta.") for i in delta.index]
    intervals = {
        label: ci.loc[[f"{label}.{k}" for k in KEY_METRICS], ["ci_low", "ci_high"]].set_axis(
            list(KEY_METRICS)
        )
        for label in cifs
    }
    return {
        "metrics": metrics,
        "delta": delta,
        "intervals": intervals,
        "models": models,
        "n_train": len(ld_train),
        "n_test": len(ld_test),
        "tau": tau,
        # what the registration guard reads: each model's incidence at tau on the test rows
        "held_out": {"time": ld_test.time, "event": ld_test.event,
                     "cif_tau": {k: c[:, int(np.argmin(np.abs(grid - tau)))] for k, c in cifs.items()}},
    }
