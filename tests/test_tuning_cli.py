"""`relapse-ml tune` end to end: MLflow runs, Ctrl-C and crash recovery, resumption."""

from __future__ import annotations

import json
import textwrap
import time

import pytest

from tests._helpers_tuning import quick_config, run_cli, run_python, tiny_trial, write_config


@pytest.fixture
def workdir(tmp_path):
    tiny_trial().write(tmp_path / "cohort")
    return tmp_path


def _load(workdir, name="t"):
    import optuna

    from relapse_ml.tuning.storage import driver_url

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(
        study_name=name, storage=driver_url(f"sqlite:///{workdir / 'optuna.db'}")
    )


def _failing_run(fail_at_fit: int, action: str) -> str:
    """Python that runs the CLI with the ``fail_at_fit``-th model fit replaced by ``action``."""
    return textwrap.dedent(f"""
        import os, signal
        import relapse_ml.tuning.objective as objective
        from relapse_ml.cli import main

        real, calls = objective.fit_predict, [0]

        def fit_predict(*args, **kwargs):
            calls[0] += 1
            if calls[0] == {fail_at_fit}:
                {action}
            return real(*args, **kwargs)

        objective.fit_predict = fit_predict
        main(["tune", "--config", "tune.yaml", "--data", "cohort", "--no-track", "--trials", "3"])
    """)


def test_tune_logs_parent_and_trial_runs_and_registers(workdir):
    from mlflow.tracking import MlflowClient

    write_config(quick_config(study={"n_trials": 3, "pruner": "none"}), workdir / "tune.yaml")
    res = run_cli("tune", "--config", "tune.yaml", "--data", "cohort", "--json", cwd=workdir)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["trials"]["complete"] + doc["trials"]["pruned"] == 3 and doc["n_run_now"] == 3
    assert doc["model_version"] == "1" and doc["run_id"]
    v = doc["validation"]
    assert v["method"] == "holdout" and v["n_test"] > 0
    assert v["delta"]["ibs"]["estimate"] == pytest.approx(v["tuned"]["ibs"] - v["default"]["ibs"])
    assert "trial   2" in res.stderr  # progress goes to stderr with --json

    uri = f"sqlite:///{workdir / 'mlruns.db'}"
    client = MlflowClient(uri)
    parent = client.get_run(doc["run_id"])
    assert parent.data.tags["relapse_ml.kind"] == "tune"
    assert parent.data.metrics["delta.ibs"] == pytest.approx(v["delta"]["ibs"]["estimate"])
    assert parent.data.params["best.learning_rate"] == str(doc["best"]["params"]["learning_rate"])
    figures = {a.path for a in client.list_artifacts(doc["run_id"], "figures")}
    assert (
        "figures/optimization_history.png" in figures and "figures/param_importances.png" in figures
    )
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{doc['run_id']}'"
    )
    study = _load(workdir)
    assert sorted(int(c.data.tags["relapse_ml.trial_number"]) for c in children) == [
        t.number for t in study.trials
    ]
    for child in children:
        trial = study.trials[int(child.data.tags["relapse_ml.trial_number"])]
        assert child.data.tags["optuna.state"] == trial.state.name
        assert child.data.params["max_depth"] == str(trial.params["max_depth"])
        assert len(client.get_metric_history(child.info.run_id, "fold.ibs")) == len(
            trial.intermediate_values
        )

    version = client.get_model_version("relapse-risk", "1")
    assert version.run_id == doc["run_id"]

    # rerunning the command resumes: no new trial, no duplicate child runs, a new version
    again = run_cli("tune", "--config", "tune.yaml", "--data", "cohort", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert "0 run now" in again.stdout and "registered as relapse-risk version 2" in again.stdout
    assert "hold-out:" in again.stdout and "tuned − default" in again.stdout
    children_after = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{doc['run_id']}'"
    )
    assert len(children_after) == len(children)


def test_ctrl_c_marks_the_trial_failed_and_a_rerun_completes_the_study(workdir):
    write_config(quick_config(study={"n_trials": 3, "pruner": "none"}), workdir / "tune.yaml")
    # 2 inner folds per trial: the 4th fit is trial 1's second fold
    res = run_python(_failing_run(4, "raise KeyboardInterrupt"), cwd=workdir)
    assert res.returncode == 130, res.stderr
    assert "rerun the same command" in res.stderr and "Traceback" not in res.stderr
    trials = _load(workdir).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert list(trials[1].intermediate_values) == [0]  # it had reported its first fold

    res = run_cli("tune", "--config", "tune.yaml", "--data", "cohort", "--no-track", "--trials", "3", "--json",
                  cwd=workdir)  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["n_run_now"] == 2 and doc["trials"]["complete"] == 3 and doc["trials"]["fail"] == 1
    states = [t.state.name for t in _load(workdir).trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert doc["best"]["number"] in (0, 2, 3) and doc["validation"]["tuned"]["ibs"] > 0


def test_a_dead_workers_trial_is_failed_by_the_heartbeat_and_retried(workdir):
    from relapse_ml.data import read_cohort
    from relapse_ml.tuning import run_tuning

    cfg = quick_config(
        study={"n_trials": 3, "pruner": "none", "heartbeat_interval": 1, "grace_period": 2}
    )
    write_config(cfg, workdir / "tune.yaml")
    res = run_python(_failing_run(3, "os.kill(os.getpid(), signal.SIGKILL)"), cwd=workdir)
    assert res.returncode == -9, res.stderr
    assert [t.state.name for t in _load(workdir).trials] == ["COMPLETE", "RUNNING"]
    time.sleep(3.5)  # longer than the grace period: the worker is now known dead

    result = run_tuning(cfg, read_cohort(workdir / "cohort"), storage=f"sqlite:///{workdir / 'optuna.db'}",
                        track=False, finalize=False, progress=lambda *a: None)  # fmt: skip
    trials = _load(workdir).trials
    states = [
        (t.number, t.state.name, t.params, t.system_attrs, t.user_attrs.get("error"))
        for t in trials
    ]
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"], states
    assert trials[2].params == trials[1].params  # the retry reran the dead trial's parameters
    assert trials[2].system_attrs.get("failed_trial") == 1
    assert result.trials["complete"] == 3 and result.n_run_now == 2


def test_bad_config_is_exit_2_one_line(workdir):
    (workdir / "bad.yaml").write_text(
        "models:\n  - name: xgb_cs\n    search_space:\n      learning_rate: {low: 0.3, high: 0.01}\n"
    )
    res = run_cli("tune", "--config", "bad.yaml", "--no-track", cwd=workdir)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "search_space.learning_rate" in lines[0] and "below high" in lines[0]
    assert not (workdir / "optuna.db").exists()


def test_tuned_model_failing_the_guard_is_not_registered_unless_forced(workdir):
    from mlflow.tracking import MlflowClient

    # an unreachable minimum IPA: the guard refuses whatever the search finds
    cfg = quick_config(study={"n_trials": 1, "pruner": "none"}, tracking={"min_ipa": 0.99})
    write_config(cfg, workdir / "tune.yaml")
    res = run_cli("tune", "--config", "tune.yaml", "--data", "cohort", "--json", cwd=workdir)
    assert res.returncode == 2, res.stderr
    doc = json.loads(res.stdout)
    assert doc["model_version"] is None and "below 0.99" in doc["registration_refused"]
    assert doc["guard"]["ipa"] == pytest.approx(doc["validation"]["tuned"]["ipa_tau"])
    assert res.stderr.strip().splitlines()[-1].startswith("error: not registered")
    client = MlflowClient(f"sqlite:///{workdir / 'mlruns.db'}")
    assert client.get_run(doc["run_id"]).data.tags["relapse_ml.registration"] == "refused"

    forced = run_cli("tune", "--config", "tune.yaml", "--data", "cohort", "--force", "--json",
                     cwd=workdir)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["model_version"] == "1"
