"""`relapse-ml patient to-fhir` / `from-fhir`: one patient between the contract's JSON and a
FHIR R4 Bundle (standard output unless --out). FHIR is imported inside the commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

patient_app = typer.Typer(help="Convert one patient between the contract's JSON and FHIR R4.",
                          no_args_is_help=True)

OUT_OPT = typer.Option(None, "--out", help="File to write (default: standard output).")
MAP_OPT = typer.Option(None, "--fhir-map", help="YAML of local FHIR codes added to the built-in map.")
DATE_OPT = typer.Option(
    "2000-01-01", "--transplant-date",
    help="Calendar date to place day 0 on (default: an obviously synthetic date).",
)
LANDMARK_OPT = typer.Option(
    None, "--landmark-day", help="Write this landmark_day into the JSON (default: none)."
)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        print(text)
        return
    from relapse_ml.utils import atomic_write_text

    atomic_write_text(out, text + "\n")


@patient_app.command("to-fhir")
def to_fhir_cmd(
    file: Path = typer.Argument(..., help="Single-patient JSON file (data contract)."),
    out: Path | None = OUT_OPT,
    transplant_date: str = DATE_OPT,
    fhir_map: Path | None = MAP_OPT,
) -> None:
    """A single-patient JSON file as a FHIR R4 Bundle (validated before it is written)."""
    import json

    from relapse_ml.errors import RelapseMLError
    from relapse_ml.fhir.write import document_to_bundle
    from relapse_ml.scoring.patient import parse_json, patient_from_dict, read_text

    try:
        day0 = dt.date.fromisoformat(transplant_date)
    except ValueError:
        raise RelapseMLError(
            f"--transplant-date {transplant_date!r}: give a date as YYYY-MM-DD"
        ) from None
    doc = parse_json(read_text(Path(file)), Path(file).name)
    patient_from_dict(doc, Path(file).name, default_landmark=0.0)  # the contract's validation
    _emit(json.dumps(document_to_bundle(doc, day0, fhir_map), indent=1), out)


@patient_app.command("from-fhir")
def from_fhir_cmd(
    bundle: Path = typer.Argument(..., help="FHIR R4 Bundle (JSON) of one patient."),
    out: Path | None = OUT_OPT,
    fhir_map: Path | None = MAP_OPT,
    landmark_day: float | None = LANDMARK_OPT,
) -> None:
    """A FHIR R4 Bundle as the contract's single-patient JSON (days since transplant, no date)."""
    import json

    from relapse_ml.fhir.record import latest_day, read_fhir_document
    from relapse_ml.scoring.patient import patient_from_dict

    doc = read_fhir_document(bundle, fhir_map)
    L = latest_day(doc) if landmark_day is None else landmark_day
    patient_from_dict(doc, bundle.name, L)  # the contract's validation, before writing
    if landmark_day is not None:
        doc["landmark_day"] = landmark_day
    _emit(json.dumps(doc, indent=1), out)
