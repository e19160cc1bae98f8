"""``relapse-ml tune``: an Optuna study on one machine (SQLite) or many (PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import typer

from relapse_ml.cli._common import emit_json, resolve_data

SHOWN = (
    "ibs",
    "ipa_tau",
    "c_index",
    "c_index_ipcw",
    "auc_tau",
    "brier_tau",
    "calibration_slope",
    "ici",
)


CONFIG_OPT = typer.Option(
    None, "--config", help="Tuning config (YAML), e.g. configs/tune_xgboost.yaml."
)
DATA_OPT = typer.Option(
    None, "--data", help="Cohort directory (default: the embedded demo cohort)."
)
TRIALS_OPT = typer.Option(
    None,
    "--trials",
    min=0,
    help="Finished trials the study should hold (default: study.n_trials); a rerun tops the study up; "
    "0 only refits and validates.",
)
TIMEOUT_OPT = typer.Option(
    None, "--timeout", min=0, help="Start no new trial after this many seconds."
)
STORAGE_OPT = typer.Option(
    None,
    "--storage",
    help="Optuna storage URL (default: sqlite:///optuna.db in the working directory; "
    "postgresql://user:pw@host/db for many workers).",
)
STUDY_OPT = typer.Option(
    None,
    "--study",
    help="Study name (default: study.name, else the config name); the same name resumes it.",
)
JSON_OPT = typer.Option(False, "--json", help="Print a machine-readable JSON document.")
NO_TRACK_OPT = typer.Option(False, "--no-track", help="Do not log to MLflow.")
NO_FINALIZE_OPT = typer.Option(
    False,
    "--no-finalize",
    help="Only run trials (a worker of a shared study); a later call without it refits the best, "
    "scores it on the hold-out and registers it.",
)


def tune_cmd(
    config: Path | None = CONFIG_OPT,
    data: Path | None = DATA_OPT,
    trials: int | None = TRIALS_OPT,
    timeout: float | None = TIMEOUT_OPT,
    storage: str | None = STORAGE_OPT,
    study: str | None = STUDY_OPT,
    as_json: bool = JSON_OPT,
    no_track: bool = NO_TRACK_OPT,
    no_finalize: bool = NO_FINALIZE_OPT,
    force: bool = typer.Option(
        False, "--force", help="Register the tuned model even when it fails the registration "
        "guard (hold-out IPA below tracking.min_ipa or mean incidence far from Aalen–Johansen)."),
) -> None:
    """Tune a model's hyper-parameters with Optuna; validate the best on data the search never saw."""
    import sys

    from relapse_ml.config import load_config
    from relapse_ml.tuning import TuneConfig, run_tuning
    from relapse_ml.tuning.storage import default_storage_url, display_url

    cfg = load_config(config, model=TuneConfig)
    data_dir = data if data is not None else (Path(cfg.data) if cfg.data else None)
    cohort = resolve_data(data_dir)
    say = (
        (lambda *a: print(*a, file=sys.stderr, flush=True))
        if as_json
        else (lambda *a: print(*a, flush=True))
    )
    try:
        result = run_tuning(
            cfg,
            cohort,
            n_trials=trials,
            timeout=timeout,
            storage=storage,
            study_name=study,
            track=not no_track,
            finalize=not no_finalize,
            progress=say,
            force=force,
        )
    except KeyboardInterrupt:
        where = display_url(storage or cfg.study.storage or default_storage_url())
        print(
            f"interrupted: the running trial is marked failed; study '{study or cfg.study_name}' in {where} "
            "keeps its finished trials — rerun the same command to continue it",
            file=sys.stderr,
        )
        # SystemExit, not a re-raise: typer turns KeyboardInterrupt into a *returned* 130
        # that the CLI's runner does not pass on, so the shell would see success
        raise SystemExit(130) from None
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_summary(result)
    from relapse_ml.cli.train_cmds import _refuse

    _refuse(result)  # exit 2 with one line when the guard kept the model out of the registry


def _print_summary(r) -> None:
    t = r.trials
    per = r.seconds_per_trial.get("complete")
    print(
        f"\nstudy '{r.study_name}' ({r.storage}): {t['complete']} complete, {t['pruned']} pruned, "
        f"{t['fail']} failed trials"
        + (f"; {per:.1f} s per complete trial" if per else "")
        + f"; {r.n_run_now} run now"
    )
    if r.best:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r.best["params"].items())
        print(
            f"best: trial {r.best['number']}, {r.objective} {r.best['value']:.4f} (inner CV on the training part)"
            f" — {r.best['model']} {params}"
        )
    v = r.validation
    if not v:
        return
    if v["method"] == "holdout":
        print(
            f"\nhold-out: {v['n_test']} rows never seen by the search; both refitted on {v['n_train']} "
            f"training rows; metrics at {v['tau']:g} days after the landmark"
        )
    else:
        print(
            f"\nnested CV: mean over {v['n_folds']} outer folds (each tuned by its own study); "
            f"difference ± SD over folds"
        )
    print(f"  {'metric':<18}{'tuned':>8}{'default':>9}   tuned − default")
    for m in SHOWN:
        d = v["delta"].get(m, {})
        ci = (
            f"  (95% CI {d['ci_low']:+.3f} to {d['ci_high']:+.3f})"
            if "ci_low" in d and d["ci_low"] == d["ci_low"]
            else (f"  (± {d['sd']:.3f})" if "sd" in d else "")
        )
        print(
            f"  {m:<18}{v['tuned'][m]:>8.3f}{v['default'][m]:>9.3f}   {d.get('estimate', float('nan')):+.3f}{ci}"
        )
    print(
        "  (lower is better for ibs, brier_tau and ici; higher for the others; "
        "'default' = the config's fixed params, library defaults otherwise)"
    )
    if r.run_id:
        from relapse_ml.tracking.store import ui_command

        print(
            f"\nMLflow run {r.run_id}"
            + (f"; registered as relapse-risk version {r.model_version}" if r.model_version else "")
        )
        where = r.tracking_uri
        print(
            f"see it at: {where}"
            if where.startswith("http")
            else f"see it with: {ui_command(where)}"
        )


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
