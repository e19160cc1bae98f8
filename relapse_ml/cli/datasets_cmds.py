"""`relapse-ml datasets …`: public transplant cohorts converted into the data contract."""

from __future__ import annotations

from pathlib import Path

import typer

from relapse_ml.cli._common import emit_json

datasets_app = typer.Typer(help="Public transplant cohorts (KMsurv bmt, mstate ebmt4, survival myeloid) in the data contract.",
                           no_args_is_help=True)


@datasets_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """List the datasets that can be imported."""
    from relapse_ml.datasets import DATASETS

    if as_json:
        emit_json({name: entry[1] if isinstance(entry, tuple) else str(entry) for name, entry in DATASETS.items()})
        return
    for name, entry in DATASETS.items():
        print(f"{name:<8} {entry[1] if isinstance(entry, tuple) else entry}")


@datasets_app.command("import")
def import_cmd(
    name: str = typer.Argument(..., help="Dataset name (see `relapse-ml datasets list`)."),
    out: Path = typer.Option(..., "--out", help="Directory to write the cohort to."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing directory."),
) -> None:
    """Convert a public cohort into the data contract and write it to --out."""
    from relapse_ml.data import read_cohort
    from relapse_ml.data.summary import cohort_summary, format_summary
    from relapse_ml.datasets import import_dataset

    path = import_dataset(name, out, overwrite=overwrite)
    print(f"{name} → {path}")
    print(format_summary(cohort_summary(read_cohort(path))))
