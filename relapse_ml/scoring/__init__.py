"""Clinician scoring: one patient (or a cohort) -> risks under each arm, drivers, checks.

`load_model` reads a bundle (fast: numpy only, no pickle) or an MLflow reference;
`read_patient_file` validates a single-patient file; `score_record` / `score_cohort`
score; `render` shows the result; `export_model` writes a bundle. Heavy libraries are
imported only where needed, so ``relapse-ml score`` with a bundle starts in about a second.
"""

from relapse_ml.scoring.bundle import BundleError, load_bundle
from relapse_ml.scoring.load import load_model
from relapse_ml.scoring.model import DEFAULT_REF, ScoringModel, from_predictor
from relapse_ml.scoring.patient import PatientRecord, patient_from_dict, read_patient_file
from relapse_ml.scoring.schema import validate as validate_score_document
from relapse_ml.scoring.score import SCHEMA_VERSION, score_cohort, score_record


def export_model(*args, **kwargs):
    """`relapse_ml.scoring.export.export_model` (imported on use: it needs mlflow)."""
    from relapse_ml.scoring.export import export_model as _export

    return _export(*args, **kwargs)


__all__ = [
    "DEFAULT_REF",
    "SCHEMA_VERSION",
    "BundleError",
    "PatientRecord",
    "ScoringModel",
    "export_model",
    "from_predictor",
    "load_bundle",
    "load_model",
    "patient_from_dict",
    "read_patient_file",
    "score_cohort",
    "score_record",
    "validate_score_document",
]
