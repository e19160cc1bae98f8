"""MLflow for a study: one parent run, one nested child run per trial, the final model.

The parent run's id lives in the study's user attributes, so every worker (on any
machine) nests its trials under the same parent; the worker that created the study
creates the parent. Child runs are logged as trials finish, and any finished trial
still missing one (a trial failed by Ctrl-C, or run with tracking off) is logged when
the study is finalized. Artifacts are aggregates, figures and the model — never patient rows.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

from relapse_ml.config import flatten
from relapse_ml.tuning.objective import ATTR_ERROR, ATTR_FOLDS, ATTR_SURPLUS, ATTR_WORKER

ATTR_PARENT = "relapse_ml.mlflow_parent_run"
TAG_TRIAL = "relapse_ml.trial_number"
PARENT_WAIT_S = 30.0
# study settings that may change between invocations: tags, not (immutable) params
MUTABLE = ("study.n_trials", "study.timeout", "study.storage", "study.name")


def _quiet_mlflow() -> None:
    import logging
    import os
    import warnings

    # with a tracking server MLflow prints a link per finished run to stdout (breaks --json)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*input example.*")


class StudyTracker:
    """Logs one study to MLflow (``uri`` from `resolve_tracking_uri`)."""

    def __init__(self, cfg, uri: str, tags: dict[str, str]):
        from mlflow.tracking import MlflowClient

        from relapse_ml.tracking.lock import open_store

        _quiet_mlflow()

        self.cfg, self.uri, self.tags = cfg, uri, tags
        # creates the store and the experiment under a file lock (many workers start at once)
        self.experiment_id = open_store(uri, cfg.tracking.experiment)
        self.client = MlflowClient(tracking_uri=uri)
        self.parent_id: str | None = None
        self._warned = False

    def attach(self, study, created: bool) -> str:
        """The study's parent run: created by the study's creator, looked up by everyone else."""
        from relapse_ml.tuning.study import ATTR_TRACKED

        parent = study.user_attrs.get(ATTR_PARENT)
        creator_tracks = study.user_attrs.get(ATTR_TRACKED, False)
        deadline = time.monotonic() + (PARENT_WAIT_S if creator_tracks and not created else 0)
        while parent is None and time.monotonic() < deadline:
            time.sleep(0.5)
            parent = study.user_attrs.get(ATTR_PARENT)
        if parent is not None and not self._exists(parent):
            parent = None  # made in another tracking store: start a new parent here
        if parent is None:
            flat = {k: v for k, v in flatten(self.cfg).items() if k not in MUTABLE}
            run = self.client.create_run(
                self.experiment_id,
                run_name=study.study_name,
                tags={"relapse_ml.kind": "tune", "relapse_ml.final_model": "tuned", **self.tags},
            )
            parent = run.info.run_id
            self.client.log_batch(parent, params=_params(flat))
            study.set_user_attr(ATTR_PARENT, parent)
        self.parent_id = parent
        return parent

    def _exists(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
            return True
        except Exception:
            return False

    def log_trial(self, study, trial) -> None:
        """Optuna callback: a child run for a finished trial (tracking trouble only warns)."""
        if trial.user_attrs.get(ATTR_SURPLUS):
            return
        try:
            self._child(study, trial)
        except Exception as err:
            if not self._warned:
                print(
                    f"warning: trial {trial.number} not logged to MLflow ({type(err).__name__}: {err}); "
                    "it is logged when the study is finalized"
                )
                self._warned = True

    def sync(self, study) -> int:
        """Log every finished trial that has no child run yet; returns how many were added."""
        from optuna.trial import TrialState

        logged = {
            r.data.tags.get(TAG_TRIAL)
            for r in self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`mlflow.parentRunId` = '{self.parent_id}'",
                max_results=50000,
            )
        }
        todo = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
            and str(t.number) not in logged
            and not t.user_attrs.get(ATTR_SURPLUS)
        ]
        for trial in todo:
            self._child(study, trial)
        return len(todo)

    def _child(self, study, trial) -> None:
        from mlflow.entities import Metric, RunStatus

        from relapse_ml.tuning.study import trial_seconds

        start = int(trial.datetime_start.timestamp() * 1000) if trial.datetime_start else None
        end = int(trial.datetime_complete.timestamp() * 1000) if trial.datetime_complete else None
        state = trial.state.name
        run = self.client.create_run(
            self.experiment_id,
            start_time=start,
            run_name=f"trial-{trial.number}",
            tags={
                "mlflow.parentRunId": self.parent_id,
                TAG_TRIAL: str(trial.number),
                "optuna.state": state,
                "relapse_ml.study": study.study_name,
                "relapse_ml.worker": str(trial.user_attrs.get(ATTR_WORKER, "")),
                **(
                    {"relapse_ml.error": str(trial.user_attrs[ATTR_ERROR])[:500]}
                    if ATTR_ERROR in trial.user_attrs
                    else {}
                ),
            },
        )
        ts = end or int(time.time() * 1000)
        metrics = []
        # a pruned trial's value is only its last running mean: not the objective
        if state == "COMPLETE" and trial.value is not None and math.isfinite(trial.value):
            metrics.append(Metric(self.cfg.objective, float(trial.value), ts, 0))
        for step, value in sorted(trial.intermediate_values.items()):
            metrics.append(Metric(f"running_{self.cfg.objective}", float(value), ts, int(step)))
        for step, fold in enumerate(trial.user_attrs.get(ATTR_FOLDS, [])):
            metrics += [
                Metric(f"fold.{k}", float(v), ts, step)
                for k, v in fold.items()
                if isinstance(v, int | float) and math.isfinite(v)
            ]
        seconds = trial_seconds(trial)
        if seconds is not None:
            metrics.append(Metric("duration_s", seconds, ts, 0))
        for i in range(0, len(metrics), 900):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(
                run.info.run_id,
                metrics=metrics[i : i + 900],
                params=_params(trial.params) if i == 0 else [],
            )
        status = {"COMPLETE": RunStatus.FINISHED, "PRUNED": RunStatus.KILLED}.get(
            state, RunStatus.FAILED
        )
        self.client.set_terminated(
            run.info.run_id, status=RunStatus.to_string(status), end_time=end
        )

    def finalize(self, study, result, cohort, ld_train, extra_studies=(), force=False) -> None:
        """Parent run: best parameters, validation metrics, figures, trial table, the registered model.

        Fills ``result.run_id``, ``result.tracking_uri`` and ``result.model_version``.
        """
        import mlflow

        self.sync(study)
        with mlflow.start_run(run_id=self.parent_id):
            mlflow.set_tags(
                {
                    "study.n_trials": str(result.n_trials_requested),
                    "relapse_ml.storage": result.storage,
                    "relapse_ml.study": result.study_name,
                }
            )
            best = result.best or {}
            params = {f"best.{k}": v for k, v in (best.get("params") or {}).items()}
            if best:
                params["best.model"] = best["model"]
                # tags always show the latest best; params (immutable) are logged the first time
                mlflow.set_tags({k: str(v) for k, v in params.items()})
                logged = self.client.get_run(self.parent_id).data.params
                fresh = {k: v for k, v in params.items() if k not in logged}
                if fresh:
                    from relapse_ml.tracking.store import mlflow_keys

                    mlflow.log_params(mlflow_keys(fresh))
            mlflow.log_metrics(_finite(result.summary_metrics()))
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                for path in study_figures(study, tmp):
                    mlflow.log_artifact(str(path), artifact_path="figures")
                trials_table(study).to_csv(tmp / "trials.csv", index=False)
                mlflow.log_artifact(str(tmp / "trials.csv"), artifact_path="tables")
                for extra in extra_studies:
                    trials_table(extra).to_csv(tmp / f"trials_{extra.study_name}.csv", index=False)
                    mlflow.log_artifact(
                        str(tmp / f"trials_{extra.study_name}.csv"), artifact_path="tables"
                    )
                (tmp / "tuning_result.json").write_text(
                    json.dumps(result.to_dict(), indent=1, default=str)
                )
                mlflow.log_artifact(str(tmp / "tuning_result.json"), artifact_path="tables")
            register_as = self.cfg.tracking.register_as
            guard = result.guard
            if guard is not None:
                from relapse_ml.tracking.store import mlflow_key

                mlflow.log_metrics({mlflow_key(f"guard.{k}"): v for k, v in guard.to_dict().items()
                                    if isinstance(v, float) and math.isfinite(v)})
                if register_as and not guard.passed:
                    mlflow.set_tag("relapse_ml.registration", "forced" if force else "refused")
                    mlflow.set_tag("relapse_ml.registration_guard", guard.reason)
                    if not force:
                        result.registration_refused = guard.reason
                        register_as = None
            if result.predictor is not None and self.cfg.tracking.log_model:
                from relapse_ml.tracking.pyfunc import log_predictor

                result.predictor.info["run_id"] = self.parent_id
                info = log_predictor(
                    result.predictor, list(ld_train.X.columns), register_as,
                    training=ld_train,
                )
                version = getattr(info, "registered_model_version", None)
                result.model_version = str(version) if version is not None else None
        result.run_id, result.tracking_uri = self.parent_id, self.uri


def study_figures(study, out_dir: Path) -> list[Path]:
    """Optuna's optimization history, parameter importances and fold-by-fold values (pruning).

    A figure Optuna cannot draw yet (e.g. importances from fewer than two complete trials
    or a single parameter) is left out.
    """
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as ovm

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = {
        k for t in complete for k in t.params if len({str(u.params.get(k)) for u in complete}) > 1
    }
    drawable = {
        "optimization_history": bool(complete),
        # Optuna draws an empty or one-bar chart here; an importance needs variation to explain
        "param_importances": len(complete) >= 2 and bool(varied),
        "intermediate_values": any(t.intermediate_values for t in study.get_trials(deepcopy=False)),
    }
    out = []
    for name, plot in (
        ("optimization_history", ovm.plot_optimization_history),
        ("param_importances", ovm.plot_param_importances),
        ("intermediate_values", ovm.plot_intermediate_values),
    ):
        if not drawable[name]:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(7, 4.5)
            fig.savefig(out_dir / f"{name}.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
            out.append(out_dir / f"{name}.png")
        except Exception:
            plt.close("all")
    return out


def trials_table(study):
    """One row per trial: number, state, value, duration, worker, folds done, parameters."""
    import pandas as pd

    from relapse_ml.tuning.study import trial_seconds

    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "seconds": trial_seconds(t),
                "worker": t.user_attrs.get(ATTR_WORKER),
                "folds_done": len(t.user_attrs.get(ATTR_FOLDS, [])),
                "surplus": bool(t.user_attrs.get(ATTR_SURPLUS, False)),
                "error": t.user_attrs.get(ATTR_ERROR),
                **{f"param.{k}": v for k, v in t.params.items()},
            }
        )
    return pd.DataFrame(rows)


def _params(mapping: dict):
    from mlflow.entities import Param

    from relapse_ml.tracking.store import mlflow_key

    return [Param(mlflow_key(k), str(v)[:6000]) for k, v in mapping.items()]


def _finite(metrics: dict) -> dict[str, float]:
    from relapse_ml.tracking.store import mlflow_key

    return {mlflow_key(k): float(v) for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))}
