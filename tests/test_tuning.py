"""Tuning in-process: the objective against cross_validate, pruning, reproducibility, honesty."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest

from relapse_ml.errors import ConfigError
from relapse_ml.train import eval_grid, landmark_data
from relapse_ml.tuning import run_tuning
from relapse_ml.tuning.objective import Objective, search_data
from relapse_ml.tuning.study import make_pruner
from tests._helpers_tuning import quick_config, tiny_cohort


@pytest.fixture(scope="module")
def cohort():
    return tiny_cohort()


def _search(cfg, cohort):
    train_cfg = cfg.train_config(cfg.models[0])
    ld = landmark_data(cohort, train_cfg)
    grid, tau = eval_grid(train_cfg)
    return search_data(
        ld, grid, tau, cfg.evaluation.n_splits, cfg.evaluation.n_repeats, cfg.evaluation.seed
    )


def _memory_study(cfg, pruner=None):
    import optuna

    from relapse_ml.tuning.sampler import trial_seeded_tpe

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(
        direction=cfg.direction,
        sampler=trial_seeded_tpe(cfg.study.seed, cfg.study.sampler_startup_trials),
        pruner=pruner or make_pruner(cfg),
    )


def test_objective_equals_cross_validate_fold_by_fold(cohort):
    """The trial value and each reported running mean match cross_validate's folds (same seed)."""
    from relapse_ml.evaluation import EvaluationWarning, cross_validate
    from relapse_ml.models import make_model

    cfg = quick_config(evaluation={"n_splits": 3, "seed": 4}, study={"pruner": "none"})
    data = _search(cfg, cohort)
    study = _memory_study(cfg)
    params = {"learning_rate": 0.1, "max_depth": 2, "subsample": 0.8}
    study.enqueue_trial(params)
    study.optimize(Objective(cfg, data), n_trials=1)
    trial = study.trials[0]

    ld = data.ld
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        cv = cross_validate(
            partial(make_model, "xgb_cs", n_estimators=30, early_stopping_rounds=None, **params),
            ld.X, ld.time, ld.event, groups=ld.patient_id, times=data.grid, tau=data.tau,
            n_splits=3, seed=4, n_boot=0,
        )  # fmt: skip
    ibs = cv.folds["ibs"].to_numpy()
    assert trial.value == pytest.approx(ibs.mean(), rel=1e-9)
    running = [trial.intermediate_values[k] for k in range(3)]
    assert running == pytest.approx(np.cumsum(ibs) / np.arange(1, 4), rel=1e-9)
    assert [f["c_index"] for f in trial.user_attrs["fold_metrics"]] == pytest.approx(
        cv.folds["c_index"].to_numpy()
    )


def test_median_pruner_stops_a_hopeless_trial_after_one_fold(cohort):
    """A trial worse than the median at fold 1 is pruned there; without a pruner it runs on."""
    cfg = quick_config(
        evaluation={"n_splits": 3}, study={"pruner": "median", "pruner_startup_trials": 1}
    )
    data = _search(cfg, cohort)
    good = {"learning_rate": 0.05, "max_depth": 1, "subsample": 1.0}
    # deep trees at a huge learning rate and no early stopping: grossly overfitted incidences
    bad = {"learning_rate": 0.3, "max_depth": 3, "subsample": 0.6}
    cfg_bad = quick_config(
        evaluation={"n_splits": 3},
        models=[{"name": "xgb_cs", "params": {"n_estimators": 200, "early_stopping_rounds": None,
                                             "min_child_weight": 0.1}, "search_space": cfg.models[0].search_space}],
        study={"pruner": "median", "pruner_startup_trials": 1},
    )  # fmt: skip
    study = _memory_study(cfg_bad)
    study.enqueue_trial(good)
    study.enqueue_trial(bad)
    study.optimize(Objective(cfg_bad, data), n_trials=2)
    first, second = study.trials
    assert first.state.name == "COMPLETE" and len(first.intermediate_values) == 3
    assert second.state.name == "PRUNED"
    assert list(second.intermediate_values) == [0]
    # the median rule, checked by hand: pruned because worse than the only other value at step 0
    assert second.intermediate_values[0] > first.intermediate_values[0]

    unpruned = _memory_study(cfg_bad, pruner=make_pruner(quick_config(study={"pruner": "none"})))
    unpruned.enqueue_trial(good)
    unpruned.enqueue_trial(bad)
    unpruned.optimize(Objective(cfg_bad, data), n_trials=2)
    assert [t.state.name for t in unpruned.trials] == ["COMPLETE", "COMPLETE"]
    assert unpruned.trials[1].intermediate_values[0] == pytest.approx(second.intermediate_values[0])


def test_pruner_choices():
    import optuna

    kinds = {
        p: type(make_pruner(quick_config(study={"pruner": p})))
        for p in ("median", "successive_halving", "none")
    }
    assert kinds == {
        "median": optuna.pruners.MedianPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "none": optuna.pruners.NopPruner,
    }


def test_same_seed_same_study_twice_and_seed_matters(cohort, tmp_path):
    """SQLite, one worker, fixed seed: the same trials and best trial in two separate databases."""
    cfg = quick_config(study={"n_trials": 4, "pruner": "median"})
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        result = run_tuning(cfg, cohort, storage=f"sqlite:///{tmp_path / name / 'o.db'}", track=False,
                            finalize=False, progress=lambda *a: None)  # fmt: skip
        runs.append(result)
    a, b = runs
    assert a.best == b.best and a.best is not None
    assert a.trials == b.trials and sum(a.trials[k] for k in ("complete", "pruned")) == 4

    import optuna

    params = [
        [
            t.params
            for t in optuna.load_study(
                study_name="t", storage=f"sqlite:///{tmp_path / n / 'o.db'}"
            ).trials
        ]
        for n in ("a", "b")
    ]
    assert params[0] == params[1]
    other = run_tuning(quick_config(study={"n_trials": 2, "seed": 99}), cohort,
                       storage=f"sqlite:///{tmp_path / 'c.db'}", track=False, finalize=False,
                       progress=lambda *a: None)  # fmt: skip
    first = (
        optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'c.db'}").trials[0].params
    )
    assert other.best is not None and first != params[0][0]


def test_concurrent_workers_draw_distinct_parameters():
    """Two samplers with one seed, sharing a study (as two workers do): no repeated draws."""
    import optuna

    from relapse_ml.tuning.sampler import trial_seeded_tpe

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.InMemoryStorage()
    workers = [
        optuna.create_study(
            study_name="s", storage=storage, sampler=trial_seeded_tpe(0), load_if_exists=True
        )
        for _ in range(2)
    ]
    for i in range(8):
        workers[i % 2].optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=1)
    xs = [t.params["x"] for t in workers[0].trials]
    assert len(xs) == 8 and len(set(xs)) == 8
    # ... and a lone worker with that seed draws exactly the same sequence
    alone = optuna.create_study(sampler=trial_seeded_tpe(0))
    alone.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=8)
    assert [t.params["x"] for t in alone.trials] == xs


def test_holdout_never_reaches_the_search(cohort, tmp_path, monkeypatch):
    """The search's rows and the hold-out rows are disjoint sets of whole patients."""
    import relapse_ml.tuning.holdout as holdout
    import relapse_ml.tuning.objective as objective

    seen = {}
    real_search, real_compare = objective.search_data, holdout.compare_on_test

    def spy_search(ld, *args, **kwargs):
        seen["search"] = set(ld.patient_id)
        return real_search(ld, *args, **kwargs)

    def spy_compare(ld_train, ld_test, *args, **kwargs):
        seen["train"], seen["test"] = set(ld_train.patient_id), set(ld_test.patient_id)
        return real_compare(ld_train, ld_test, *args, **kwargs)

    monkeypatch.setattr(objective, "search_data", spy_search)
    monkeypatch.setattr(holdout, "compare_on_test", spy_compare)
    cfg = quick_config(study={"n_trials": 2}, validation={"holdout_fraction": 0.3})
    result = run_tuning(
        cfg, cohort, storage=f"sqlite:///{tmp_path / 'o.db'}", track=False, progress=lambda *a: None
    )
    assert seen["search"] == seen["train"]
    assert not seen["search"] & seen["test"]
    assert len(seen["test"]) == pytest.approx(0.3 * result.n_rows, abs=1)
    v = result.validation
    assert v["n_train"] + v["n_test"] == result.n_rows
    assert set(v["tuned"]) == set(v["default"]) and "ibs" in v["delta"]
    assert result.predictor is not None and result.predictor.info["params"]["n_estimators"] == 30


def test_holdout_split_is_by_patient_stratified_and_seeded(cohort):
    from relapse_ml.config import LandmarkConfig
    from relapse_ml.tuning.holdout import holdout_split

    cfg = quick_config()
    ld = landmark_data(cohort, cfg.train_config(cfg.models[0]).model_copy(
        update={"landmark": LandmarkConfig(super_landmark=True, landmarks=[60, 120])}))  # fmt: skip
    train, test = holdout_split(ld, 0.25, seed=3)
    assert not (train & test).any() and (train | test).all()
    assert not set(ld.patient_id[train]) & set(
        ld.patient_id[test]
    )  # a patient's landmarks stay together
    again = holdout_split(ld, 0.25, seed=3)
    assert (again[0] == train).all()
    # stratified: each first-landmark outcome is held out at close to 25%
    first = ld.landmark_day == 60
    for code in (0, 1, 2):
        rows = first & (ld.event == code)
        assert abs((rows & test).sum() - 0.25 * rows.sum()) <= 1.5


def test_compare_on_test_equals_direct_evaluation(cohort):
    """Tuned, default and their difference equal `evaluate` on independently fitted models."""
    from relapse_ml.evaluation import EvaluationWarning, evaluate
    from relapse_ml.models import make_model
    from relapse_ml.tuning.holdout import compare_on_test, holdout_split

    cfg = quick_config()
    train_cfg = cfg.train_config(cfg.models[0])
    ld = landmark_data(cohort, train_cfg)
    grid, tau = eval_grid(train_cfg)
    tr, te = holdout_split(ld, 0.3, seed=0)
    a = {"n_estimators": 20, "max_depth": 2, "early_stopping_rounds": None}
    b = {"n_estimators": 20, "max_depth": 1, "early_stopping_rounds": None}
    out = compare_on_test(ld.select(tr), ld.select(te), {"tuned": ("xgb_cs", a), "default": ("xgb_cs", b)},
                          grid, tau, n_boot=5)  # fmt: skip
    direct = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        for label, params in (("tuned", a), ("default", b)):
            m = make_model("xgb_cs", **params).fit(ld.X[tr], ld.time[tr], ld.event[tr])
            cif = m.predict_cif(ld.X[te], grid)
            direct[label] = evaluate(
                ld.time[tr], ld.event[tr], ld.time[te], ld.event[te], cif, grid, tau
            )
    for metric in ("ibs", "c_index", "ipa_tau"):
        assert out["metrics"].loc[metric, "tuned"] == pytest.approx(direct["tuned"][metric])
        assert out["delta"].loc[metric, "estimate"] == pytest.approx(
            direct["tuned"][metric] - direct["default"][metric]
        )
        assert out["delta"].loc[metric, "ci_low"] <= out["delta"].loc[metric, "ci_high"]


def test_nested_cv_scores_each_outer_fold_on_unseen_patients(cohort, tmp_path):
    cfg = quick_config(study={"n_trials": 2}, validation={"method": "nested", "outer_folds": 2})
    result = run_tuning(
        cfg, cohort, storage=f"sqlite:///{tmp_path / 'o.db'}", track=False, progress=lambda *a: None
    )
    v = result.validation
    assert v["method"] == "nested" and len(v["folds"]) == 2
    assert (
        sum(f["n_test"] for f in v["folds"]) == result.n_rows
    )  # the outer tests partition the rows
    assert result.outer_studies == ["t.outer1", "t.outer2"]
    expected = np.mean([f["tuned"]["ibs"] - f["default"]["ibs"] for f in v["folds"]])
    assert v["delta"]["ibs"]["estimate"] == pytest.approx(expected)


def test_resuming_with_another_search_space_is_refused(cohort, tmp_path):
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    run_tuning(quick_config(study={"n_trials": 1}), cohort, storage=storage, track=False, finalize=False,
               progress=lambda *a: None)  # fmt: skip
    changed = quick_config(models=[{"name": "xgb_cs", "params": {"n_estimators": 30},
                                    "search_space": {"max_depth": {"low": 1, "high": 5}}}])  # fmt: skip
    with pytest.raises(ConfigError, match="another search space"):
        run_tuning(
            changed, cohort, storage=storage, track=False, finalize=False, progress=lambda *a: None
        )
    # the same config resumes: topping the study up to 2 runs exactly one more trial
    again = run_tuning(quick_config(study={"n_trials": 2}), cohort, storage=storage, track=False, finalize=False,
                       progress=lambda *a: None)  # fmt: skip
    assert again.n_run_now == 1 and again.trials["complete"] + again.trials["pruned"] == 2


def test_storage_urls():
    from relapse_ml.errors import RelapseMLError
    from relapse_ml.tuning.storage import display_url, driver_url, make_storage

    assert (
        display_url("postgresql://me:secret@db:5432/optuna") == "postgresql://me:***@db:5432/optuna"
    )
    assert driver_url("postgres://u@h/d").startswith("postgresql+psycopg")
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ConfigError, match="not a database URL"):
        make_storage("optuna.db", None, None, 0)
    with pytest.raises(RelapseMLError, match="cannot open"):
        make_storage("postgresql://nobody:pw@127.0.0.1:1/none", None, None, 0)


def test_figures_skip_importances_with_too_few_trials(tmp_path):
    import optuna

    from relapse_ml.tuning.tracking import study_figures

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("k", 1, 3), n_trials=1)
    names = {p.name for p in study_figures(study, tmp_path)}
    assert "optimization_history.png" in names and "param_importances.png" not in names
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("k", 1, 3), n_trials=4)
    names = {p.name for p in study_figures(study, tmp_path)}
    assert "param_importances.png" in names and all(
        (tmp_path / n).stat().st_size > 1000 for n in names
    )
