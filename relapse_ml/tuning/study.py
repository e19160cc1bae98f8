"""Open (or resume) an Optuna study and run trials until it holds the requested number.

``n_trials`` is the number of finished (complete or pruned) trials the study should
hold, not a number to add: rerunning the same command after a crash or Ctrl-C tops the
study up, and several workers given the same number stop together. A trial interrupted
by Ctrl-C or an exception is marked FAIL by Optuna; one whose worker died is failed by
the heartbeat and queued again (`storage.make_storage`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from relapse_ml.errors import ConfigError, RelapseMLError
from relapse_ml.tuning.config import TuneConfig
from relapse_ml.tuning.objective import (
    ATTR_ERROR,
    ATTR_FOLDS,
    ATTR_SURPLUS,
    ATTR_WORKER,
    Objective,
    SearchData,
)
from relapse_ml.tuning.storage import occupied

ATTR_FINGERPRINT = "relapse_ml.fingerprint"
ATTR_TRACKED = "relapse_ml.tracked"  # the creator logs to MLflow: joiners wait for its parent run
FINGERPRINT_WAIT_S = 30.0  # how long a joining worker waits for the creator to label the study


@dataclass
class StudyRun:
    """What one invocation did to one study."""

    study: object  # optuna.Study
    n_run: int  # trials this process ran (any final state)
    seconds: float


def study_fingerprint(cfg: TuneConfig, data: SearchData, extra: str = "") -> str:
    """What a study's trial values depend on: data seen by the search, space, objective, folds."""
    import pandas as pd

    from relapse_ml.tracking.store import data_fingerprint

    ld = data.ld
    outcome = pd.DataFrame({"patient_id": ld.patient_id, "time": ld.time, "event": ld.event})
    payload = {
        "data": data_fingerprint(ld.X, outcome),
        "models": [m.model_dump() for m in cfg.models],
        "objective": cfg.objective,
        "folds": [cfg.evaluation.n_splits, cfg.evaluation.n_repeats, cfg.evaluation.seed],
        "grid": [round(float(t), 6) for t in data.grid],
        "landmark": cfg.landmark.model_dump(),
        "features": cfg.features,
        "validation": cfg.validation.model_dump(),
        "extra": extra,
    }
    text = json.dumps(_numbers_as_floats(payload), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _numbers_as_floats(x):
    """60 and 60.0 are one setting (a YAML file and a default may spell it either way)."""
    if isinstance(x, dict):
        return {k: _numbers_as_floats(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_numbers_as_floats(v) for v in x]
    if isinstance(x, int) and not isinstance(x, bool):
        return float(x)
    return x


def make_pruner(cfg: TuneConfig):
    import optuna

    s = cfg.study
    if s.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=s.pruner_startup_trials, n_warmup_steps=0
        )
    if s.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=s.reduction_factor
        )
    return optuna.pruners.NopPruner()


def open_study(cfg: TuneConfig, storage, name: str, fingerprint: str, tracked: bool = False):
    """Create the study, or load it when it exists and was made for the same data and config.

    Returns ``(study, created)``. Exactly one of several workers racing to create it gets
    ``created=True`` (the storage's unique study name decides).
    """
    import optuna

    from relapse_ml.tuning.sampler import trial_seeded_tpe

    sampler = trial_seeded_tpe(cfg.study.seed, cfg.study.sampler_startup_trials)
    pruner = make_pruner(cfg)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=cfg.direction,
            sampler=sampler,
            pruner=pruner,
        )
        study.set_user_attr(ATTR_TRACKED, tracked)
        study.set_user_attr(ATTR_FINGERPRINT, fingerprint)  # last: joiners wait for it
        return study, True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    if study.direction.name.lower() != cfg.direction:
        raise ConfigError(
            f"study '{name}' {study.direction.name.lower()}s its objective but this config's "
            f"'{cfg.objective}' is to {cfg.direction}; use another --study name"
        )
    deadline = time.monotonic() + FINGERPRINT_WAIT_S
    found = study.user_attrs.get(ATTR_FINGERPRINT)
    while (
        found is None and time.monotonic() < deadline
    ):  # the creator labels it just after creating it
        time.sleep(0.5)
        found = study.user_attrs.get(ATTR_FINGERPRINT)
    if found is not None and found != fingerprint:
        raise ConfigError(
            f"study '{name}' was started with other data or another search space, objective, folds or "
            "hold-out split; continuing it would mix incomparable trials (or show the search the "
            "hold-out). Use a new --study name, or rerun with the original config and data"
        )
    return study, False


def run_trials(
    study,
    objective: Objective,
    n_trials: int,
    *,
    timeout: float | None = None,
    max_consecutive_failures: int = 3,
    callbacks=(),
    progress=print,
) -> StudyRun:
    """Run trials until the study holds ``n_trials`` finished ones, or the timeout passes.

    With a heartbeat, trials running in other workers count towards ``n_trials`` (they are
    alive), so that workers stop together instead of overshooting; a running trial that
    later fails leaves room that the workers still running fill.
    Raises RelapseMLError when ``max_consecutive_failures`` trials of this process fail in a
    row (a broken setup, not an unlucky parameter), naming the last error.
    """
    import warnings

    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own one line per trial instead
    count_running = objective.count_running
    start, ran, fails, last_error = time.monotonic(), [0], [0], [None]

    def watch(study, trial) -> None:
        ran[0] += 1
        surplus = trial.user_attrs.get(ATTR_SURPLUS, False)
        if trial.state == TrialState.FAIL and not surplus:
            fails[0] += 1
            last_error[0] = trial.user_attrs.get(ATTR_ERROR, "unknown error")
            if fails[0] >= max_consecutive_failures:
                study.stop()
        elif trial.state != TrialState.FAIL:
            fails[0] = 0
        if not surplus:
            progress(
                describe_trial(study, trial, objective.cfg.objective, len(objective.data.folds))
            )
        if occupied(study, count_running) >= n_trials:
            study.stop()

    if count_running:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)  # dead workers' trials: failed, queued again
    if occupied(study, count_running) < n_trials:
        study.optimize(
            objective,
            timeout=timeout,
            catch=(Exception,),
            gc_after_trial=False,
            callbacks=[watch, *callbacks],
        )
    if fails[0] >= max_consecutive_failures:
        raise RelapseMLError(
            f"study '{study.study_name}': {fails[0]} trials failed in a row; "
            f"last error: {last_error[0]}"
        )
    return StudyRun(study=study, n_run=ran[0], seconds=time.monotonic() - start)


def describe_trial(study, trial, metric: str, n_folds: int) -> str:
    """One progress line for a finished trial."""
    from optuna.trial import TrialState

    head = f"trial {trial.number:>3}"
    if trial.state == TrialState.COMPLETE:
        line = f"{head}  {metric} {trial.value:.4f}"
        try:
            best = study.best_trial
            line += f"  (best {best.value:.4f}, trial {best.number})"
        except ValueError:
            pass
    elif trial.state == TrialState.PRUNED:
        done = len(trial.user_attrs.get(ATTR_FOLDS, []))
        line = f"{head}  pruned after inner fold {done} of {n_folds}"
    else:
        line = f"{head}  failed: {trial.user_attrs.get(ATTR_ERROR, 'interrupted')}"
    seconds = trial_seconds(trial)
    if seconds is not None:
        line += f"  [{seconds:.1f} s, {trial.user_attrs.get(ATTR_WORKER, '?')}]"
    return line


def trial_seconds(trial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def trial_counts(study) -> dict[str, int]:
    """Trials by state (complete, pruned, fail, running, waiting), surplus ones left out of fail."""
    counts = {"complete": 0, "pruned": 0, "fail": 0, "running": 0, "waiting": 0}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get(ATTR_SURPLUS):
            continue
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts
