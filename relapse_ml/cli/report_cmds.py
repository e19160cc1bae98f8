"""The report command: one self-contained HTML file for a tracked run."""

from __future__ import annotations

from pathlib import Path

import typer

from relapse_ml.cli._common import emit_json

KIND_HELP = "train, benefit, subgroups, tune or design"


RUN_OPT = typer.Option(None, "--run", help="MLflow run id (see: relapse-ml runs).")
LATEST_OPT = typer.Option(
    None,
    "--latest",
    metavar="KIND",
    help=f"Instead of --run: the most recent finished run of KIND ({KIND_HELP}).",
)
OUT_OPT = typer.Option(..., "--out", help="HTML file to write (atomically).")
DATA_OPT = typer.Option(
    None,
    "--data",
    help="The run's cohort directory, for the screening flow, "
    "counts by arm and numbers at risk; it must have the run's data fingerprint "
    "(default: the embedded demo cohort, used only when it matches).",
)
NO_DATA_OPT = typer.Option(False, "--no-data", help="Use the run's artifacts alone.")
URI_OPT = typer.Option(
    None, "--tracking-uri", help="Default: $MLFLOW_TRACKING_URI, else ./mlruns.db."
)
EXPERIMENT_OPT = typer.Option(
    None, "--experiment", help="With --latest: look only in this experiment."
)
JSON_OPT = typer.Option(False, "--json", help="Print a machine-readable summary.")


def report_cmd(
    run: str | None = RUN_OPT,
    latest: str | None = LATEST_OPT,
    out: Path = OUT_OPT,
    data: Path | None = DATA_OPT,
    no_data: bool = NO_DATA_OPT,
    tracking_uri: str | None = URI_OPT,
    experiment: str | None = EXPERIMENT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Write an HTML report of a training, benefit, subgroups, tuning or design run (figures embedded)."""
    import sys

    from relapse_ml.errors import RelapseMLError
    from relapse_ml.report import KINDS, build_report, latest_run, write_report
    from relapse_ml.tracking.store import resolve_tracking_uri

    if (run is None) == (latest is None):
        raise RelapseMLError("give exactly one of --run RUN_ID or --latest KIND")
    if latest is not None and latest not in KINDS:
        raise RelapseMLError(f"--latest {latest!r}: the kind must be one of {', '.join(KINDS)}")
    if no_data and data is not None:
        raise RelapseMLError("--data and --no-data contradict each other; give one")
    from relapse_ml.utils import check_output_file

    check_output_file(out)  # before the run is read and the report built
    uri = resolve_tracking_uri(tracking_uri)
    run_id = run if run is not None else latest_run(uri, latest, experiment)
    cohort = None
    if not no_data:
        from relapse_ml.cli._common import resolve_data

        cohort = resolve_data(data)
    report = build_report(run_id, uri, cohort, cohort_explicit=data is not None)
    path = write_report(report, out)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if as_json:
        emit_json(
            {
                "out": str(path),
                "run_id": report.run_id,
                "kind": report.kind,
                "sections": report.sections,
                "figures": report.figures,
                "bytes": path.stat().st_size,
                "related_runs": report.related,
                "notes": report.notes,
            }
        )
        return
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {report.kind} run {report.run_id}, "
        f"{len(report.sections)} sections, {report.figures} figures embedded"
        + (
            f"; also {', '.join(f'{k} run {v}' for k, v in report.related.items())}"
            if report.related
            else ""
        )
    )
