"""A FHIR Bundle as a scoring `PatientRecord`, with the one warning about what was not used."""

from __future__ import annotations

import sys
from pathlib import Path

MAX_LISTED = 12


def latest_day(doc: dict) -> float:
    """The day of the latest data in the document (the default landmark of a Bundle)."""
    days = [float(r["day"]) for key in ("measurements", "events") for r in doc.get(key) or []]
    return max([0.0, *days])


def warning_line(label: str, unmapped: list[str], defaulted: list[str]) -> str | None:
    """One line naming every resource not used and every field missing from the Bundle."""
    parts = []
    if unmapped:
        shown = ", ".join(unmapped[:MAX_LISTED])
        more = f" and {len(unmapped) - MAX_LISTED} more" if len(unmapped) > MAX_LISTED else ""
        parts.append(f"{len(unmapped)} resource(s) not used (not in the code map, or "
                     f"entered in error): {shown}{more} — map local codes with --fhir-map FILE")
    if defaulted:
        parts.append("not in the Bundle, so 'unknown': " + ", ".join(defaulted))
    return f"warning: {label}: " + "; ".join(parts) if parts else None


def read_fhir_document(path, fhir_map=None, warn=True) -> dict:
    """The single-patient document of a Bundle file; prints the one warning to stderr."""
    from relapse_ml.fhir.read import read_bundle_file

    doc, unmapped, defaulted = read_bundle_file(path, fhir_map)
    line = warning_line(Path(path).name, unmapped, defaulted)
    if warn and line:
        print(line, file=sys.stderr)
    return doc


def record_from_bundle(path, landmark_day=None, fhir_map=None):
    """A validated `PatientRecord`: landmark ``landmark_day``, else the latest data day."""
    from relapse_ml.scoring.patient import patient_from_dict

    doc = read_fhir_document(path, fhir_map)
    L = latest_day(doc) if landmark_day is None else landmark_day
    return patient_from_dict(doc, Path(path).name, L)
