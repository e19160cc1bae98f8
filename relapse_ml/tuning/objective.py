"""The objective: a cross-validated metric on the training part, reported fold by fold.

The folds are those of `relapse_ml.evaluation.cross_validate` with the same seed
(`evaluation.crossval.fold_labels`: by patient, stratified by event code), fixed for the whole study:
every trial is scored on the same folds, so the pruner compares like with like. The
value reported after fold k is the mean of the metric over folds 1..k; the trial's value
is the mean over all folds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from relapse_ml.tuning.config import TuneConfig, TunedModel
from relapse_ml.tuning.space import suggest
from relapse_ml.tuning.storage import occupied, worker_id

# trial user attributes (JSON in the storage: aggregates only, never patient rows)
ATTR_WORKER, ATTR_FOLDS, ATTR_ERROR, ATTR_SURPLUS = "worker", "fold_metrics", "error", "surplus"


class SurplusTrial(Exception):
    """A trial started after the study already had its requested number of trials."""


@dataclass
class SearchData:
    """What the search may see: the training part's landmark rows, inner folds, grid and τ."""

    ld: object  # LandmarkData of the training part (never the hold-out)
    folds: list[tuple[np.ndarray, np.ndarray]]  # (train rows, test rows) per (repeat, fold)
    grid: np.ndarray
    tau: float


def search_data(ld, grid, tau: float, n_splits: int, n_repeats: int, seed: int) -> SearchData:
    """Inner folds and a grid kept inside the training part's follow-up (as `cross_validate` does)."""
    from relapse_ml.errors import RelapseMLError
    from relapse_ml.evaluation import EvaluationWarning, clip_horizon, times_inside

    relapses = int((ld.event == 1).sum())
    if len(np.unique(ld.patient_id)) < 2 * n_splits or relapses < n_splits:
        raise RelapseMLError(
            f"the training part has {len(np.unique(ld.patient_id))} patients and {relapses} relapses "
            f"— too few for {n_splits}-fold inner cross-validation; lower evaluation.n_splits, "
            "hold out fewer patients or use more data"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        grid = times_inside(np.union1d(grid, [tau]), ld.time)
        tau = clip_horizon(tau, ld.time, grid=grid)
    from relapse_ml.evaluation.crossval import _given_splits, fold_labels

    labels = fold_labels(ld.event, ld.patient_id, n_splits, n_repeats, seed)  # cross_validate's
    folds = [split for r in range(n_repeats) for split in _given_splits(labels[r])]
    return SearchData(ld=ld, folds=folds, grid=grid, tau=float(tau))


def model_params(cfg: TuneConfig, model: TunedModel, searched: dict) -> dict:
    """Fixed + searched parameters, completed as the training pipeline completes them."""
    from relapse_ml.train import model_params

    train_cfg = cfg.train_config(model, searched)
    return model_params(train_cfg.models[0], train_cfg)


def fit_predict(
    name: str, params: dict, X_train, time_train, event_train, X_test, grid
) -> np.ndarray:
    """Relapse incidence ``(n_test, n_times)`` of a model fitted on the training rows."""
    from relapse_ml.models import make_model

    model = make_model(name, **params).fit(X_train, time_train, event_train)
    return model.predict_cif(X_test, grid, cause=1)


def fold_metrics(data: SearchData, train, test, cif) -> dict[str, float]:
    """All scalar metrics of `evaluate` on one inner fold (evaluation warnings silenced)."""
    from relapse_ml.evaluation import EvaluationWarning, evaluate, scalar_metrics

    t, e = data.ld.time, data.ld.event
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        return scalar_metrics(
            evaluate(t[train], e[train], t[test], e[test], cif, data.grid, data.tau, tables=False)
        )


class Objective:
    """``objective(trial) -> float``: suggest, fit and score fold by fold, prune when hopeless.

    target: the number of finished trials the study should hold; a trial numbered after
        that many finished (or, with ``count_running``, running) ones is surplus (a race
        between workers) and is marked failed at once instead of being run.
    count_running: count other workers' running trials (only when a heartbeat tells
        live workers from dead ones).
    """

    def __init__(
        self,
        cfg: TuneConfig,
        data: SearchData,
        target: int | None = None,
        count_running: bool = False,
    ):
        self.cfg, self.data, self.target, self.count_running = cfg, data, target, count_running

    def __call__(self, trial) -> float:
        import optuna

        trial.set_user_attr(ATTR_WORKER, worker_id())
        if self.target is not None and self._is_surplus(trial):
            trial.set_user_attr(ATTR_SURPLUS, True)
            trial.study.stop()
            raise SurplusTrial(f"trial {trial.number}: the study already has {self.target} trials")
        model, searched = suggest(trial, self.cfg)
        try:
            params = model_params(self.cfg, model, searched)
            ld, values, metrics = self.data.ld, [], []
            for step, (train, test) in enumerate(self.data.folds):
                cif = fit_predict(
                    model.name,
                    params,
                    ld.X.iloc[train],
                    ld.time[train],
                    ld.event[train],
                    ld.X.iloc[test],
                    self.data.grid,
                )
                metrics.append(fold_metrics(self.data, train, test, cif))
                value = metrics[-1][self.cfg.objective]
                if not math.isfinite(value):
                    raise ValueError(f"{self.cfg.objective} is undefined on inner fold {step + 1}")
                values.append(value)
                # kept fold by fold so that a pruned trial still shows what it scored
                trial.set_user_attr(ATTR_FOLDS, metrics)
                trial.report(float(np.mean(values)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned(
                        f"pruned after inner fold {step + 1} of {len(self.data.folds)}"
                    )
        except optuna.TrialPruned:
            raise
        except Exception as err:
            trial.set_user_attr(ATTR_ERROR, f"{type(err).__name__}: {err}"[:500])
            raise
        return float(np.mean(values))

    def _is_surplus(self, trial) -> bool:
        return occupied(trial.study, self.count_running, before=trial.number) >= self.target
