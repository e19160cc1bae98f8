"""Commands that run the modelling pipeline: train, runs."""

from __future__ import annotations

from pathlib import Path

import typer

from relapse_ml.cli._common import emit_json, resolve_data

DATA_OPT = typer.Option(None, "--data", help="Cohort directory (default: the embedded demo cohort).")
CONFIG_OPT = typer.Option(None, "--config", help="Experiment config (YAML); default: configs/default.yaml "
                          "(shipped in the package); keys a config leaves out come from it too.")
JSON_OPT = typer.Option(False, "--json", help="Print a machine-readable JSON document.")


def train_cmd(config: Path | None = CONFIG_OPT, data: Path | None = DATA_OPT, as_json: bool = JSON_OPT,
              no_track: bool = typer.Option(False, "--no-track", help="Do not log to MLflow."),
              force: bool = typer.Option(
                  False, "--force", help="Register the final model even when it fails the "
                  "registration guard (cross-validated IPA < 0, or mean predicted incidence far "
                  "from the Aalen–Johansen estimate)."),
              folds: Path | None = typer.Option(
                  None, "--folds", help="Fold assignment CSV (patient_id, fold[, repeat]) used "
                  "instead of the stratified splits, e.g. to compare with other tools."),
              save_oof: Path | None = typer.Option(
                  None, "--save-oof", help="Write every model's out-of-fold predictions (CSV: "
                  "patient_id, repeat, fold, model, final, relapse_cif_<H>d, nrm_cif_<H>d).")) -> None:
    """Cross-validate competing-risk models, refit the best, log the run to MLflow.

    Exit 2 when the final model fails the registration guard: the run is logged, the model
    is not registered (``--force`` registers it anyway)."""
    import sys

    from relapse_ml.config import load_config
    from relapse_ml.train import run_training

    cfg = load_config(config)
    data_dir = data if data is not None else (Path(cfg.data) if cfg.data else None)
    cohort = resolve_data(data_dir)
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    result = run_training(cfg, cohort, track=not no_track, progress=say, force=force, folds=folds,
                          save_oof=save_oof)
    final = result.metrics[result.metrics["model"] == result.final_model].set_index("metric")
    if as_json:
        emit_json({
            "run_id": result.run_id, "tracking_uri": result.tracking_uri, "final_model": result.final_model,
            "model_version": result.model_version, "tau_days": result.tau, "rows": result.n_rows,
            "patients": result.n_patients, "events": result.events,
            "metrics": result.metrics.to_dict(orient="records"),
            "oracle": None if result.oracle is None else result.oracle.reset_index().to_dict(orient="records"),
            "oracle_by_landmark": (None if result.oracle_by_landmark is None
                                   else result.oracle_by_landmark.to_dict(orient="records")),
            "oracle_note": result.oracle_note,
            "guard": None if result.guard is None else result.guard.to_dict(),
            "registration_refused": result.registration_refused,
            "stack_weights": result.predictor.info.get("stack_weights"),
            "stack_inner_ibs": result.predictor.info.get("stack_inner_ibs"),
        })
        _refuse(result)
        return
    print(f"\nfinal model: {result.final_model} (refitted on all {result.n_rows} rows); "
          f"out-of-fold metrics at {result.tau:g} days after the landmark:")
    for m in ("c_index", "c_index_ipcw", "auc_tau", "brier_tau", "ipa_tau", "ibs", "calibration_slope", "ici",
              "mean_gap"):
        if m in final.index:
            r = final.loc[m]
            ci = (f"  (95% CI {r['ci_low']:.3f}–{r['ci_high']:.3f})"
                  if r["ci_low"] == r["ci_low"] else "")  # none with evaluation.n_boot 0
            print(f"  {m:<18} {r['pooled']:.3f}{ci}")
    _print_stack(result.predictor.info)
    _print_oracle(result)
    if result.run_id:
        from relapse_ml.tracking.store import ui_command

        print(f"\nMLflow run {result.run_id}"
              + (f"; registered as relapse-risk version {result.model_version}" if result.model_version else ""))
        print(f"see it with: {ui_command(result.tracking_uri)}")
    _refuse(result)


def _print_stack(info: dict) -> None:
    """A stack's weights and each member's inner out-of-fold integrated Brier score."""
    weights = info.get("stack_weights")
    if not weights:
        return
    ibs = info.get("stack_inner_ibs") or {}
    if not ibs:  # fixed weights (a blend): nothing chosen on an inner split
        print("  blend weights (fixed, not fitted):")
        for label, w in weights.items():
            print(f"    {label:<24} {w:.3f}")
        return
    print("  stack weights (inner out-of-fold integrated Brier of each member alone; stack "
          f"{ibs.get('stack', float('nan')):.4f}):")
    for label, w in weights.items():
        print(f"    {label:<24} {w:.3f}  ({ibs.get(label, float('nan')):.4f})")


def _print_oracle(result) -> None:
    """The final model beside the simulation oracle: pooled, then per landmark if stacked."""
    if result.oracle is not None:
        print("\nagainst the simulation oracle (true risks; a ceiling, not a target):")
        for m in ("c_index", "auc_tau", "ipa_tau", "calibration_slope"):
            if m in result.oracle.index:
                r = result.oracle.loc[m]
                print(f"  {m:<18} model {r['model']:.3f}  oracle {r['oracle']:.3f}  ratio {r['ratio']:.2f}")
    by = result.oracle_by_landmark
    if by is not None and (by["landmark"] == "pooled").any():
        print("  by landmark day (model / oracle):")
        wide = by[by["landmark"] != "pooled"].pivot(index="landmark", columns="metric")
        for day in wide.index:
            cells = [f"{m} {wide.loc[day, ('model', m)]:.3f} / {wide.loc[day, ('oracle', m)]:.3f}"
                     for m in ("c_index", "ipa_tau") if ("model", m) in wide.columns]
            print(f"    day {float(day):<6g} " + "   ".join(cells))
    if result.oracle_note:
        print(f"  note: {result.oracle_note}")


def _refuse(result) -> None:
    """Exit 2 with one line when the final model was not registered because of the guard."""
    if result.registration_refused:
        import sys

        print(f"error: not registered — {result.registration_refused}; the run is logged"
              f"{f' as {result.run_id}' if result.run_id else ''} (--force registers it anyway)",
              file=sys.stderr)
        raise typer.Exit(2)


def runs_cmd(experiment: str = typer.Option("relapse-ml", "--experiment"),
             limit: int = typer.Option(20, "--limit", min=1),
             tracking_uri: str | None = typer.Option(None, "--tracking-uri"),
             as_json: bool = JSON_OPT) -> None:
    """List recent runs with their key metrics."""
    from relapse_ml.tracking.runs import recent_runs
    from relapse_ml.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    runs = recent_runs(uri, experiment, limit)
    if as_json:
        emit_json({"tracking_uri": uri, "runs": runs})
        return
    if not runs:
        print(f"no runs in experiment '{experiment}' at {uri}")
        return
    print(f"{'run id':<34}{'name':<16}{'kind':<8}{'model':<14}{'C-index':>8}{'IPA':>8}  status")
    for r in runs:
        m = r["metrics"]
        c = m.get("c_index_ipcw")
        ipa = m.get("ipa_tau")
        print(f"{r['run_id']:<34}{r['name'][:15]:<16}{r['kind']:<8}{r['final_model'][:13]:<14}"
              f"{'' if c is None else f'{c:.3f}':>8}{'' if ipa is None else f'{ipa:+.3f}':>8}  {r['status']}")
