"""A tuning campaign: split off the test data, run the study, judge the best trial honestly.

``run_tuning`` is what ``relapse-ml tune`` calls. The search sees only the training part;
the test part (a hold-out share of patients, or the outer folds of nested
cross-validation) is used once, at the end, to score the refitted best parameters beside
the untuned ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from relapse_ml.errors import RelapseMLError
from relapse_ml.tuning.config import TuneConfig
from relapse_ml.tuning.holdout import KEY_METRICS


@dataclass
class TuneResult:
    """What a tuning invocation produced (aggregates only; ``predictor`` is the tuned model)."""

    study_name: str
    storage: str  # password masked
    objective: str
    direction: str
    n_trials_requested: int
    trials: dict[str, int]  # by state, over the whole study
    n_run_now: int  # trials this invocation ran
    seconds_now: float
    seconds_per_trial: dict[str, float | None]  # mean duration of complete / pruned trials
    n_rows: int
    tau: float
    best: dict | None = None  # number, value, model, model_name, params (searched only)
    validation: dict | None = None
    predictor: object | None = None
    run_id: str | None = None
    tracking_uri: str | None = None
    model_version: str | None = None
    outer_studies: list[str] = field(default_factory=list)
    guard: object = None  # registration.GuardResult of the tuned model
    registration_refused: str | None = None  # why the tuned model was not registered

    def summary_metrics(self) -> dict[str, float]:
        """Flat metrics for the parent run: best value, trial counts, timing, validation."""
        out = {f"n_trials_{k}": float(v) for k, v in self.trials.items()}
        if self.best:
            out[f"best.{self.objective}"] = self.best["value"]
        for k, v in self.seconds_per_trial.items():
            if v is not None:
                out[f"seconds_per_{k}_trial"] = v
        v = self.validation or {}
        for arm in ("tuned", "default"):
            out.update({f"{arm}.{m}": x for m, x in (v.get(arm) or {}).items()})
        for m, d in (v.get("delta") or {}).items():
            out.update({f"delta.{m}{'' if s == 'estimate' else '_' + s}": x for s, x in d.items()})
        return {k: float(x) for k, x in out.items() if x is not None and math.isfinite(float(x))}

    def to_dict(self) -> dict:
        keys = (
            "study_name",
            "storage",
            "objective",
            "direction",
            "n_trials_requested",
            "trials",
            "n_run_now",
            "seconds_now",
            "seconds_per_trial",
            "n_rows",
            "tau",
            "best",
            "validation",
            "run_id",
            "tracking_uri",
            "model_version",
            "outer_studies",
            "registration_refused",
        )
        out = {k: getattr(self, k) for k in keys}
        out["guard"] = self.guard.to_dict() if self.guard is not None else None
        return out


def run_tuning(
    cfg: TuneConfig,
    cohort,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    track: bool = True,
    finalize: bool = True,
    progress=print,
    force: bool = False,
) -> TuneResult:
    """Run (or resume) the study until it holds ``n_trials`` finished trials, then validate.

    n_trials / timeout / storage / study_name: override the config's ``study`` section.
    finalize: refit the best trial, score it and the untuned parameters on the test part,
        and (with ``track``) log the parent run and register the model — only when it passes
        the registration guard (`relapse_ml.registration`) or ``force`` is set. Workers of a
        distributed study run with ``finalize=False``; one final call finalizes.
    """
    import time

    from relapse_ml.tracking.store import data_fingerprint, git_commit, resolve_tracking_uri
    from relapse_ml.train import eval_grid, landmark_data, n_features
    from relapse_ml.tuning.holdout import holdout_split, outer_folds
    from relapse_ml.tuning.objective import Objective, search_data
    from relapse_ml.tuning.storage import default_storage_url, display_url, make_storage
    from relapse_ml.tuning.study import open_study, run_trials, study_fingerprint, trial_counts

    n_trials = cfg.study.n_trials if n_trials is None else int(n_trials)
    timeout = cfg.study.timeout if timeout is None else timeout
    url = storage or cfg.study.storage or default_storage_url()
    name = study_name or cfg.study_name
    s = cfg.study
    train_cfg = cfg.train_config(cfg.models[0])
    ld = landmark_data(cohort, train_cfg)
    grid, tau = eval_grid(train_cfg)
    progress(
        f"{cohort.name}: {len(ld)} rows at risk at the landmark, {int((ld.event == 1).sum())} relapses, "
        f"{int((ld.event == 2).sum())} non-relapse deaths; {n_features(ld.X)} features"
    )

    if cfg.validation.method == "holdout":
        train, test = holdout_split(ld, cfg.validation.holdout_fraction, cfg.validation.seed)
        parts = [(name, ld.select(train), ld.select(test))]
        progress(
            f"hold-out: {int(test.sum())} rows set aside, unseen by the search; "
            f"{int(train.sum())} rows searched with {cfg.evaluation.n_splits}-fold inner CV"
        )
    else:
        parts = [(name, ld, None)] + [
            (f"{name}.outer{k + 1}", ld.select(tr), ld.select(te))
            for k, (tr, te) in enumerate(
                outer_folds(ld, cfg.validation.outer_folds, cfg.validation.seed)
            )
        ]
        progress(
            f"nested CV: one study on all {len(ld)} rows (the model to register) and one per "
            f"{cfg.validation.outer_folds} outer folds, each judged on its outer test part"
        )

    rdb = make_storage(url, s.heartbeat_interval, s.grace_period, s.max_retry)
    tracker = None
    if track:
        from relapse_ml.tuning.tracking import StudyTracker

        tracker = StudyTracker(
            cfg,
            resolve_tracking_uri(cfg.tracking.tracking_uri),
            tags={
                "relapse_ml.data_name": cohort.name,
                "relapse_ml.data_fingerprint": data_fingerprint(
                    cohort.patients, cohort.measurements, cohort.events
                ),
                "relapse_ml.git_commit": git_commit() or "unknown",
                "relapse_ml.tau_days": str(tau),
                "relapse_ml.objective": cfg.objective,
                "relapse_ml.validation": cfg.validation.method,
            },
        )

    deadline = None if timeout is None else time.monotonic() + float(timeout)
    studies, n_run, started = [], 0, time.monotonic()
    for i, (study_name_i, train_ld, _) in enumerate(parts):
        data = search_data(
            train_ld,
            grid,
            tau,
            cfg.evaluation.n_splits,
            cfg.evaluation.n_repeats,
            cfg.evaluation.seed,
        )
        fingerprint = study_fingerprint(cfg, data, extra=study_name_i.removeprefix(name))
        study, created = open_study(cfg, rdb, study_name_i, fingerprint, tracked=track and i == 0)
        if tracker is not None and i == 0:
            tracker.attach(study, created)
        counts = trial_counts(study)
        progress(
            f"study '{study_name_i}' ({'new' if created else 'resumed'}) in {display_url(url)}: "
            f"{counts['complete'] + counts['pruned']} of {n_trials} trials finished; "
            f"objective: {cfg.objective} ({cfg.direction}), pruner: {s.pruner}"
        )
        left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        objective = Objective(
            cfg, data, target=n_trials, count_running=s.heartbeat_interval is not None
        )
        run = run_trials(
            study,
            objective,
            n_trials,
            timeout=left,
            max_consecutive_failures=s.max_consecutive_failures,
            progress=progress,
            callbacks=[tracker.log_trial] if tracker is not None and i == 0 else [],
        )
        n_run += run.n_run
        studies.append((study, data))

    main, main_data = studies[0]
    result = TuneResult(
        study_name=name,
        storage=display_url(url),
        objective=cfg.objective,
        direction=cfg.direction,
        n_trials_requested=n_trials,
        trials=trial_counts(main),
        n_run_now=n_run,
        seconds_now=time.monotonic() - started,
        seconds_per_trial=_durations(main),
        n_rows=len(ld),
        tau=main_data.tau,
        best=_best(cfg, main),
        outer_studies=[st.study_name for st, _ in studies[1:]],
    )
    if not finalize:
        return result
    if result.best is None:
        raise RelapseMLError(
            f"study '{name}': no trial has completed yet, so there is nothing to refit; "
            "run more trials (or look at the failed trials' errors)"
        )
    result.validation, fitted, fit_ld, held = _validate(cfg, parts, studies, grid, tau, progress)
    result.predictor = _predictor(cfg, fitted, fit_ld, result)
    from relapse_ml.registration import check_tuned_model

    result.guard = check_tuned_model(
        result.best["model"], float(result.validation["tuned"].get("ipa_tau", np.nan)), held,
        fitted, fit_ld.X, float(held[0]["tau"]), cfg.tracking)
    if not result.guard.passed:
        progress(f"warning: {result.guard.reason}")
    if tracker is not None:
        tracker.finalize(main, result, cohort, fit_ld, extra_studies=[st for st, _ in studies[1:]],
                         force=force)
    return result


def _best(cfg: TuneConfig, study) -> dict | None:
    from relapse_ml.tuning.objective import model_params
    from relapse_ml.tuning.space import from_trial_params

    try:
        best = study.best_trial
    except ValueError:
        return None
    model, searched = from_trial_params(cfg, best.params)
    return {
        "number": best.number,
        "value": float(best.value),
        "model": model.display,
        "model_name": model.name,
        "params": searched,
        "all_params": model_params(cfg, model, searched),
    }


def _durations(study) -> dict[str, float | None]:
    from relapse_ml.tuning.study import trial_seconds

    out = {}
    for state in ("COMPLETE", "PRUNED"):
        secs = [trial_seconds(t) for t in study.get_trials(deepcopy=False) if t.state.name == state]
        secs = [x for x in secs if x is not None]
        out[state.lower()] = float(np.mean(secs)) if secs else None
    return out


def _validate(cfg: TuneConfig, parts, studies, grid, tau, progress):
    """Score tuned vs untuned on the test part(s); returns (validation dict, fitted tuned model,
    its rows, the tuned model's held-out incidences for the registration guard)."""
    from relapse_ml.models import make_model
    from relapse_ml.tuning.holdout import compare_on_test
    from relapse_ml.tuning.objective import model_params

    def fits(study):
        best = _best(cfg, study)
        if best is None:
            raise RelapseMLError(
                f"study '{study.study_name}': no trial has completed yet; run more trials"
            )
        model = next(m for m in cfg.models if m.display == best["model"])
        return best, {
            "tuned": (model.name, best["all_params"]),
            "default": (model.name, model_params(cfg, model, dict(model.baseline))),
        }

    def summary(cmp) -> dict:
        m, d = cmp["metrics"], cmp["delta"]
        return {
            "n_train": cmp["n_train"],
            "n_test": cmp["n_test"],
            "tau": cmp["tau"],
            "tuned": m["tuned"].to_dict(),
            "default": m["default"].to_dict(),
            "tuned_ci": {k: list(v) for k, v in cmp["intervals"]["tuned"].iterrows()},
            "default_ci": {k: list(v) for k, v in cmp["intervals"]["default"].iterrows()},
            "delta": {k: r.to_dict() for k, r in d.iterrows()},
        }

    n_boot, seed = cfg.evaluation.n_boot, cfg.validation.seed
    if cfg.validation.method == "holdout":
        _, train_ld, test_ld = parts[0]
        best, pair = fits(studies[0][0])
        progress(
            f"refitting trial {best['number']} and the untuned parameters on {len(train_ld)} training rows; "
            f"scoring both on {len(test_ld)} hold-out rows"
        )
        cmp = compare_on_test(train_ld, test_ld, pair, grid, tau, n_boot=n_boot, seed=seed)
        out = {
            "method": "holdout",
            **summary(cmp),
            "tuned_params": pair["tuned"][1],
            "default_params": pair["default"][1],
        }
        return out, cmp["models"]["tuned"], train_ld, [cmp["held_out"] | {"tau": cmp["tau"]}]

    folds, held = [], []
    for (study_name, train_ld, test_ld), (study, _) in zip(parts[1:], studies[1:], strict=True):
        best, pair = fits(study)
        progress(
            f"{study_name}: scoring trial {best['number']} and the untuned parameters on "
            f"{len(test_ld)} outer-test rows"
        )
        cmp = compare_on_test(train_ld, test_ld, pair, grid, tau, n_boot=0, seed=seed)
        held.append(cmp["held_out"] | {"tau": cmp["tau"]})
        folds.append(
            {
                "study": study_name,
                "best_trial": best["number"],
                "params": best["params"],
                **summary(cmp),
            }
        )
    mean = {
        arm: {k: float(np.nanmean([f[arm][k] for f in folds])) for k in KEY_METRICS}
        for arm in ("tuned", "default")
    }
    delta = {
        k: {
            "estimate": float(np.nanmean([f["tuned"][k] - f["default"][k] for f in folds])),
            "sd": float(np.nanstd([f["tuned"][k] - f["default"][k] for f in folds], ddof=1)),
        }
        for k in KEY_METRICS
    }
    best, pair = fits(studies[0][0])
    _, all_ld, _ = parts[0]
    model = make_model(pair["tuned"][0], **pair["tuned"][1]).fit(
        all_ld.X, all_ld.time, all_ld.event
    )
    out = {
        "method": "nested",
        "n_folds": len(folds),
        "tuned": mean["tuned"],
        "default": mean["default"],
        "delta": delta,
        "folds": folds,
        "tuned_params": pair["tuned"][1],
        "default_params": pair["default"][1],
    }
    return out, model, all_ld, held


def _predictor(cfg: TuneConfig, model, fit_ld, result: TuneResult):
    from relapse_ml.predictor import RelapseRiskPredictor, training_ranges

    best = result.best
    return RelapseRiskPredictor(
        model=model,
        feature_columns=list(fit_ld.X.columns),
        features=cfg.features,
        landmark_day=float(cfg.landmark.landmark_day),
        horizon_days=float(cfg.landmark.horizon_days),
        horizons=[float(h) for h in cfg.evaluation.horizons],
        super_landmark=cfg.landmark.super_landmark,
        landmarks=list(cfg.landmark.landmarks),
        training_ranges=training_ranges(fit_ld.X),
        info={
            "model": best["model"],
            "model_name": best["model_name"],
            "params": best["all_params"],
            "tuning": {
                "study": result.study_name,
                "best_trial": best["number"],
                "objective": result.objective,
                "validation": (result.validation or {}).get("method"),
            },
            "metrics": dict((result.validation or {}).get("tuned") or {}),
        },
    )
