"""`relapse-ml export`: a registered (or run) model -> a portable bundle directory.

Needs mlflow and the model classes (scikit-learn); scoring the bundle later needs neither.
The training cohort (``--data``; by default the embedded demo cohort, used only when its
fingerprint is the model's) gives the background summary for drivers and, with
``bootstrap > 0``, the resamples the model is refitted on for intervals. A linear model
without data falls back to its preprocessor's training medians; a tree model needs data.
The export checks that the written bundle predicts what the source model predicts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from relapse_ml.errors import ModelError, RelapseMLError
from relapse_ml.scoring.bundle import bundle_files, library_versions, load_bundle, write_bundle
from relapse_ml.scoring.drivers import background_summary
from relapse_ml.scoring.model import (
    ScoringModel,
    from_predictor,
    is_mlflow_ref,
    load_mlflow_predictor,
)
from relapse_ml.scoring.numbers import numbers_from_model
from relapse_ml.scoring.predict import TREE_TYPES

EXPORT_TOLERANCE = 1e-9


def export_model(
    ref: str,
    out: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    overwrite: bool = False,
    progress=print,
) -> tuple[Path, ScoringModel]:
    """Export the MLflow model ``ref`` to a bundle at ``out``; returns ``(path, loaded bundle)``."""
    if not is_mlflow_ref(str(ref)):
        raise RelapseMLError(
            f"--model {ref}: export needs a registry or run reference "
            "(models:/relapse-risk/latest, models:/NAME/VERSION, runs:/RUN_ID/model)"
        )
    predictor, source = load_mlflow_predictor(str(ref))
    return export_predictor(
        predictor,
        out,
        source=source,
        data=data,
        bootstrap=bootstrap,
        seed=seed,
        overwrite=overwrite,
        progress=progress,
    )


def export_predictor(
    predictor,
    out,
    *,
    source: dict | None = None,
    data=None,
    training=None,
    bootstrap: int = 0,
    seed: int = 0,
    overwrite: bool = False,
    progress=print,
) -> tuple[Path, ScoringModel]:
    """Export a fitted `RelapseRiskPredictor` (the testable core of `export_model`).

    training: the model's landmark training data when the caller holds it (training does,
    when it registers a version); else it is rebuilt from ``data`` (see `training_data`).
    """
    if bootstrap < 0:
        raise RelapseMLError("--bootstrap must be >= 0")
    model = from_predictor(predictor, source)
    model.numbers = numbers_from_model(predictor.model)
    ld = training
    if ld is None:
        # a model without its own reference values (trees; a stack or trajectory step
        # around any model) needs its training cohort for the drivers' background
        own = model.background is not None or model.model_type == "aalen_johansen"
        required = bootstrap > 0 or model.model_type in TREE_TYPES or not own
        ld = training_data(predictor, data, required=required)
    if ld is not None:
        model.background = background_summary(ld.X)
    elif model.model_type == "aalen_johansen":
        model.background = {
            "reference": {},
            "method": "none: the model uses no features",
            "n_rows": None,
        }
    model.info = {
        **model.info,
        "model_version": (source or {}).get("version"),
        "exported_from": (source or {}).get("ref"),
    }
    model.versions = library_versions(model.model_type)
    if bootstrap:
        model.replicates = refit_bootstrap(predictor, ld, bootstrap, seed, progress)
        model.bootstrap = {
            "replicates": bootstrap,
            "seed": seed,
            "resampled": "patients",
            "n_patients": int(len(np.unique(ld.patient_id))),
            "interval": "95% percentile",
        }
    path = write_bundle(bundle_files(model), out, overwrite=overwrite)
    loaded = load_bundle(path)
    X = ld.X.to_numpy(float) if ld is not None else probe_rows(model)
    worst = max(
        float(
            np.abs(
                loaded.incidence(X, model.horizons, arm)
                - predictor.model.predict_cumulative_incidence(
                    _frame(X, model.feature_columns, arm), model.horizons
                )
            ).max()
        )
        for arm in model.arms
    )
    if not worst <= EXPORT_TOLERANCE:
        raise ModelError(
            f"the exported bundle does not reproduce the model (max difference "
            f"{worst:.2g}); please report this"
        )
    loaded.info["export_check_max_difference"] = worst
    return path, loaded


def training_data(predictor, data, required: bool):
    """The model's landmark training data, from ``data`` or the demo cohort when it matches."""
    from relapse_ml.tracking.store import data_fingerprint

    want = predictor.info.get("data_fingerprint")
    if data is None:
        from relapse_ml.demo import demo_cohort_dir

        # without a fingerprint to compare, the demo cohort cannot be known to be the data
        candidates, explicit = ([demo_cohort_dir()] if want else []), False
    else:
        candidates, explicit = [Path(data)], True
    for path in candidates:
        from relapse_ml.data import read_cohort

        cohort = read_cohort(path)
        got = data_fingerprint(cohort.patients, cohort.measurements, cohort.events)
        if want and got != want:
            if explicit:
                raise RelapseMLError(
                    f"--data {path}: not the model's training data (fingerprint "
                    f"{got[:12]}…, the model was trained on {want[:12]}…)"
                )
            continue
        return _landmark_data(predictor, cohort)
    if required:
        raise RelapseMLError(
            "this export needs the model's training cohort (for the background "
            "summary of a tree, stack or trajectory model, or for --bootstrap): give --data DIR"
        )
    return None


def _landmark_data(predictor, cohort):
    from relapse_ml.landmark import landmark_dataset, super_landmark_dataset

    if predictor.super_landmark:
        ld = super_landmark_dataset(
            cohort,
            landmarks=tuple(predictor.landmarks),
            horizon_days=predictor.horizon_days,
            features=predictor.features,
        )
    else:
        ld = landmark_dataset(
            cohort,
            landmark_day=predictor.landmark_day,
            horizon_days=predictor.horizon_days,
            features=predictor.features,
        )
    if list(ld.X.columns) != list(predictor.feature_columns):
        raise RelapseMLError(
            "the training cohort's features no longer match the model's columns "
            "(feature code changed since training?); retrain the model"
        )
    return ld


def refit_bootstrap(predictor, ld, k: int, seed: int, progress=print) -> list:
    """``k`` refits of the model on patient-level bootstrap resamples (lean numbers each).

    Tree models keep the fitted model's number of boosting rounds (per cause, per grid
    time): early stopping is not re-run, because a resampled patient's copies would fall
    on both sides of its validation split and let it run on far too long.
    """
    from relapse_ml.models import make_model

    name = predictor.info.get("model_name")
    params = dict(predictor.info.get("params") or {})
    if not name:
        raise ModelError("the model does not record its name and parameters; cannot refit it")
    main = predictor.model
    rounds = getattr(main, "n_rounds_", None)
    if rounds is not None:
        per = list(rounds.values()) if isinstance(rounds, dict) else list(rounds)
        params.update(early_stopping_rounds=None, n_estimators=int(max(per)))
    rng = np.random.default_rng(seed)
    patients = np.unique(ld.patient_id)
    rows_of = {p: np.flatnonzero(ld.patient_id == p) for p in patients}
    out = []
    for i in range(k):
        pick = rng.choice(patients, size=patients.size, replace=True)
        rows = np.concatenate([rows_of[p] for p in pick])
        X = ld.X.iloc[rows].reset_index(drop=True)
        time, event = ld.time[rows], ld.event[rows]
        # copies of a patient stay on one side of any internal split (early stopping, a
        # stack's inner folds)
        model = make_model(name, **params).fit(X, time, event, groups=ld.patient_id[rows])
        if rounds is not None:
            _keep_rounds(model, rounds, X, time, event)
        out.append(numbers_from_model(model))
        if progress and ((i + 1) % 10 == 0 or i + 1 == k):
            progress(f"  bootstrap refit {i + 1}/{k}")
    return out


def _keep_rounds(model, rounds, X, time, event) -> None:
    """Cut a refitted booster model to the main model's rounds (Breslow baselines redone)."""
    from relapse_ml.models import breslow_baseline

    if isinstance(rounds, dict):  # cause-specific: baselines refer to the margins used
        model.n_rounds_ = {c: int(r) for c, r in rounds.items()}
        for c in model.n_rounds_:
            margin = model.predict_log_hazard_ratio(X, cause=c)
            model.baselines_[c] = breslow_baseline(time, event == c, margin)
    elif len(model.n_rounds_) == len(rounds):  # direct: one booster per grid time
        model.n_rounds_ = [int(r) for r in rounds]  # each trained for max(rounds) rounds


def probe_rows(model: ScoringModel) -> np.ndarray:
    """Rows spanning the training ranges (p01, median-ish, p99) when no data is at hand."""
    rows = []
    for key in ("p01", "p99", "min", "max"):
        rows.append(
            [_num((model.training_ranges.get(c) or {}).get(key)) for c in model.feature_columns]
        )
    X = np.asarray(rows, float)
    # a column without a range (the trajectory step's raw histories) stays NaN, silently
    seen = ~np.isnan(X)
    mean = np.divide(np.nansum(X, axis=0), seen.sum(axis=0), out=np.full(X.shape[1], np.nan),
                     where=seen.any(axis=0))
    return np.vstack([X, mean[None, :]])


def _frame(X: np.ndarray, columns, arm: str):
    import pandas as pd

    frame = pd.DataFrame(X, columns=columns)
    if arm != "observed":
        frame["arm"] = 1.0 if arm == "sorafenib" else 0.0
    return frame


def _num(v) -> float:
    return np.nan if v is None else float(v)
