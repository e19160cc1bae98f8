"""Commands whose whole job is one cohort: validate, eligibility, simulate."""

from __future__ import annotations

from pathlib import Path

import typer

from relapse_ml.cli._common import emit_json

DIR_ARG = typer.Argument(..., help="Cohort directory (patients, measurements, events as .csv or .parquet).")
JSON_OPT = typer.Option(False, "--json", help="Print a machine-readable JSON document.")


def validate_cmd(directory: Path = DIR_ARG, as_json: bool = JSON_OPT) -> None:
    """Check a cohort against the data contract and print its summary."""
    from relapse_ml.data import read_cohort
    from relapse_ml.data.summary import cohort_summary, format_summary
    from relapse_ml.errors import RelapseMLError

    try:
        cohort = read_cohort(directory)
    except RelapseMLError as err:
        if as_json:  # the verdict on stdout for a program; the errors on stderr as always
            emit_json({"valid": False, "error": str(err).splitlines()[0], "violations": [
                {"file": v.table, "row": v.row, "column": v.column,
                 "value": None if v.value is None else str(v.value), "allowed": v.allowed}
                for v in getattr(err, "violations", [])]})
        raise
    summary = cohort_summary(cohort)
    if as_json:
        emit_json({"valid": True, **summary})
    else:
        print(f"{directory}: valid (data contract v2)")
        print(format_summary(summary))


def eligibility_cmd(
    directory: Path = DIR_ARG,
    out: Path | None = typer.Option(None, "--out", help="Write the per-patient result (CSV) here."),
    as_of_day: float = typer.Option(60, "--as-of-day", help="Screen with data observed up to this day."),
    as_json: bool = JSON_OPT,
) -> None:
    """Screen every patient against the trial's inclusion and exclusion criteria."""
    from relapse_ml.data import read_cohort
    from relapse_ml.eligibility import consort_table, screen
    from relapse_ml.utils import atomic_write_text, check_output_file

    if out is not None:
        check_output_file(out)
    cohort = read_cohort(directory)
    result = screen(cohort, as_of_day=as_of_day)
    if out is not None:
        atomic_write_text(out, result.per_patient.to_csv(index=False))
    status = result.per_patient["status"].value_counts().to_dict()
    if as_json:
        emit_json({
            "patients": int(len(result.per_patient)),
            "status": {k: int(v) for k, v in status.items()},
            "criteria": result.summary.to_dict(orient="records"),
            "consort": consort_table(result).to_dict(orient="records"),
            "out": str(out) if out else None,
        })
        return
    print(f"{cohort.name}: {len(result.per_patient)} patients screened (data up to day {as_of_day:g})")
    for key in ("eligible", "not_eligible", "not_assessable"):
        print(f"  {key.replace('_', ' ')}: {int(status.get(key, 0))}")
    print()
    print(consort_table(result).to_string(index=False))
    print()
    print(result.summary.to_string(index=False))
    if out is not None:
        print(f"\nper-patient result written to {out}")


def simulate_cmd(
    out: Path = typer.Option(..., "--out", help="Directory to write the simulated cohort to (must not exist or be empty)."),
    n: int = typer.Option(346, "--n", help="Number of randomized patients."),
    seed: int = typer.Option(0, "--seed"),
    scenario: str = typer.Option("mrd_driven", "--scenario", help="null, uniform, mrd_driven, harm_subgroup or cytogenetics_driven."),
    landmark_day: int = typer.Option(60, "--landmark-day"),
    horizon_days: int = typer.Option(730, "--horizon-days"),
    screen_failures: bool = typer.Option(False, "--screen-failures", help="Also write the screened but not randomized candidates."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    chunk_size: int = typer.Option(50_000, "--chunk-size", help="Patients per chunk above which the cohort is simulated in chunks (part of the cohort's identity: the same seed and chunk size give the same cohort)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler for the chunks (tcp://host:8786); default: a local cluster."),
    workers: int | None = typer.Option(None, "--workers", min=0, help="Local cluster size for the chunks (default: one per core); 0: serially here."),
    truth_landmarks: str | None = typer.Option(
        None, "--truth-landmarks", help="Also write the truth at these visit days "
        "(truth_at_landmarks: each patient's risk given the latent state at the day), "
        "comma-separated, e.g. 60,90,180,365; 'none' to skip. Default: the default config's "
        "landmarks (those with day + horizon inside ten years), so `train` can set its "
        "super-landmark model beside the truth at every visit."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output directory."),
    as_json: bool = JSON_OPT,
) -> None:
    """Simulate a randomized trial cohort with known truth (truth table, meta.json)."""
    from relapse_ml.errors import RelapseMLError

    if fmt not in ("csv", "parquet"):
        raise RelapseMLError(f"--format {fmt!r}: allowed: csv, parquet")
    days = parse_truth_landmarks(truth_landmarks, horizon_days)
    from relapse_ml.utils import check_output_dir

    check_output_dir(out, overwrite)
    kwargs = {"scenario": scenario, "landmark_day": landmark_day, "horizon_days": horizon_days,
              "truth_landmarks": days}
    if n <= chunk_size:
        from relapse_ml.simulate import get_scenario, simulate_trial

        get_scenario(scenario)
        trial = simulate_trial(n=n, seed=seed, screen_failures=screen_failures, **kwargs)
        trial.write(out, overwrite=overwrite, fmt=fmt)
        rows = {"patients": len(trial.patients), "measurements": len(trial.measurements),
                "events": len(trial.events), "truth_at_landmarks": len(trial.truth_at_landmarks)}
    else:
        rows = _simulate_chunked(out, n, seed, fmt, chunk_size, scheduler, workers, overwrite,
                                 screen_failures, kwargs, as_json)
    info = {"out": str(out), "patients": int(rows["patients"]), "scenario": scenario, "seed": seed,
            "measurements": int(rows["measurements"]), "events": int(rows["events"]), "format": fmt,
            "truth_landmarks": days}
    if as_json:
        emit_json(info)
    else:
        print(f"simulated {info['patients']} patients (scenario {scenario}, seed {seed}) → {out}")


def parse_truth_landmarks(text: str | None, horizon_days: float) -> list[float]:
    """``--truth-landmarks``: days >= the last randomization day with day + horizon inside the
    simulator's ten years; None: the default config's landmarks that fit; 'none': no days."""
    from relapse_ml.errors import RelapseMLError
    from relapse_ml.simulate.arguments import LAST_RANDOMIZATION_DAY, MAX_DAY

    def fits(d: float) -> bool:
        return LAST_RANDOMIZATION_DAY <= d and d + horizon_days <= MAX_DAY

    if text is None:
        from relapse_ml.config import default

        return [float(d) for d in default("landmark", "landmarks") if fits(float(d))]
    if text.strip().lower() == "none":
        return []
    allowed = (f"allowed: comma-separated days >= {LAST_RANDOMIZATION_DAY} with day + "
               f"--horizon-days ({horizon_days:g}) <= {MAX_DAY}, e.g. 60,90,180,365, or 'none'")
    days = []
    for token in text.split(","):
        try:
            d = float(token)
        except ValueError:
            raise RelapseMLError(f"--truth-landmarks {text!r}: {token.strip()!r} is not a day; "
                                 f"{allowed}") from None
        if not fits(d):  # also catches nan and inf
            raise RelapseMLError(f"--truth-landmarks {text!r}: day {token.strip()} is out of range; "
                                 f"{allowed}")
        days.append(d)
    return sorted(set(days))


def _simulate_chunked(out, n, seed, fmt, chunk_size, scheduler, workers, overwrite,
                      screen_failures, kwargs, quiet) -> dict:
    from relapse_ml.errors import RelapseMLError
    from relapse_ml.simulate import get_scenario
    from relapse_ml.simulate.chunked import simulate_cohort

    get_scenario(kwargs["scenario"])
    if screen_failures:
        raise RelapseMLError(f"--screen-failures is available up to --chunk-size ({chunk_size}) patients")
    say = None if quiet else (lambda done, total: print(f"  chunk {done}/{total} written", flush=True))
    if workers == 0 and not scheduler:
        meta = simulate_cohort(out, n, seed, fmt, chunk_size, None, overwrite, say, **kwargs)
    else:
        from relapse_ml.design.runner import dask_client

        with dask_client(scheduler, workers) as client:
            meta = simulate_cohort(out, n, seed, fmt, chunk_size, client, overwrite, say, **kwargs)
    return meta["rows"]
