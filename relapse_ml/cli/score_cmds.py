"""Clinician-facing commands: score (one patient or a cohort) and export (model -> bundle)."""

from __future__ import annotations

from pathlib import Path

import typer

from relapse_ml.cli._common import emit_json

MODEL_OPT_HELP = (
    "A bundle directory (fast), models:/relapse-risk/latest, models:/relapse-risk/N "
    "or runs:/RUN_ID/model."
)


PATIENT_OPT = typer.Option(None, "--patient", help="Single-patient JSON file (data contract).")
MODEL_OPT = typer.Option("models:/relapse-risk/latest", "--model", help=MODEL_OPT_HELP)
LANDMARK_OPT = typer.Option(
    None, "--landmark-day", help="Visit day after transplant (default: the file's landmark_day)."
)
JSON_OPT = typer.Option(False, "--json", help="Print the versioned JSON document.")
HTML_OPT = typer.Option(None, "--html", help="Also write a one-page HTML summary here.")
COHORT_OPT = typer.Option(None, "--cohort", help="Score every patient of a cohort directory.")
FHIR_OPT = typer.Option(
    None, "--fhir", help="A FHIR R4 Bundle (JSON) of one patient instead of --patient."
)
FHIR_MAP_OPT = typer.Option(
    None, "--fhir-map", help="YAML of local FHIR codes added to the built-in code map."
)
FHIR_OUT_OPT = typer.Option(None, "--fhir-out", help="Also write the answer as a FHIR RiskAssessment.")
OUT_OPT = typer.Option(None, "--out", help="With --cohort: the scores CSV to write.")
BENEFIT_OPT = typer.Option(
    None,
    "--benefit",
    help="A benefit export (`relapse-ml benefit --export-benefit DIR`): the change with "
    "sorafenib, its interval and drivers then come from that analysis' reported estimate "
    "(without it: the prediction model's two-arm difference, not a validated benefit).",
)
INTERVALS_OPT = typer.Option(
    False, "--intervals", help="With --cohort: bootstrap intervals of the benefit."
)
EXPORT_MODEL_OPT = typer.Option(
    "models:/relapse-risk/latest",
    "--model",
    help="models:/NAME/VERSION|latest or runs:/RUN_ID/model.",
)
BUNDLE_OUT_OPT = typer.Option(..., "--out", help="Bundle directory to write.")
DATA_OPT = typer.Option(
    None,
    "--data",
    help="The model's training cohort (default: the demo cohort, if it is the one the model "
    "was trained on). Needed for tree models and --bootstrap.",
)
BOOTSTRAP_OPT = typer.Option(
    0, "--bootstrap", help="Refit the model on K bootstrap resamples of the training patients."
)
SEED_OPT = typer.Option(0, "--seed", help="Seed of the bootstrap resamples.")
OVERWRITE_OPT = typer.Option(False, "--overwrite", help="Replace an existing bundle directory.")


def score_cmd(
    patient: Path | None = PATIENT_OPT,
    model: str = MODEL_OPT,
    landmark_day: float | None = LANDMARK_OPT,
    as_json: bool = JSON_OPT,
    html_out: Path | None = HTML_OPT,
    cohort: Path | None = COHORT_OPT,
    out: Path | None = OUT_OPT,
    intervals: bool = INTERVALS_OPT,
    fhir: Path | None = FHIR_OPT,
    fhir_map: Path | None = FHIR_MAP_OPT,
    fhir_out: Path | None = FHIR_OUT_OPT,
    benefit: Path | None = BENEFIT_OPT,
) -> None:
    """Relapse risk with and without sorafenib, drivers and safety checks (decision support)."""
    from relapse_ml.errors import RelapseMLError
    from relapse_ml.scoring.predict import LEAN_IMPORTS

    if sum(x is not None for x in (patient, cohort, fhir)) != 1:
        raise RelapseMLError(
            "give exactly one of --patient FILE.json, --fhir BUNDLE.json or --cohort DIR"
        )
    if cohort is not None and out is None:
        raise RelapseMLError("--cohort needs --out scores.csv")
    if cohort is not None and (html_out is not None or fhir_out is not None):
        raise RelapseMLError("--html and --fhir-out are for one patient (--patient or --fhir)")
    if fhir_map is not None and fhir is None:
        raise RelapseMLError("--fhir-map is for --fhir BUNDLE.json")
    if out is not None and cohort is None:
        raise RelapseMLError(
            "--out is for --cohort DIR (the scores CSV); one patient's answer goes to standard "
            "output, --html FILE or --fhir-out FILE"
        )
    from relapse_ml.utils import check_output_file

    for path in (out, html_out, fhir_out):  # a bad output path is refused before any work
        if path is not None:
            check_output_file(path)
    LEAN_IMPORTS["xgboost_without_sklearn"] = True  # this process never needs XGBoost's sklearn API

    record = None
    if fhir is not None:  # the input first: a bad Bundle is refused before the model loads
        from relapse_ml.fhir.record import record_from_bundle

        record = record_from_bundle(fhir, landmark_day, fhir_map)
    from relapse_ml.scoring.load import load_model

    benefit_model = None
    if benefit is not None:  # the export first: a bad one is refused before the model loads
        from relapse_ml.scoring.benefit_model import load_benefit

        benefit_model = load_benefit(benefit)
    scoring_model = load_model(model)
    if cohort is not None:
        _score_cohort(
            scoring_model, cohort, out, landmark_day, intervals, as_json, benefit_model
        )
        return
    from relapse_ml.scoring.patient import read_patient_file
    from relapse_ml.scoring.score import score_record

    if record is None:
        record = read_patient_file(
            patient, landmark_day, default_landmark=scoring_model.landmark_day
        )
    doc = score_record(scoring_model, record, benefit_model)
    if fhir_out is not None:
        import json

        from relapse_ml.fhir.write import risk_assessment
        from relapse_ml.utils import atomic_write_text

        atomic_write_text(fhir_out, json.dumps(risk_assessment(doc), indent=1) + "\n")
    if html_out is not None:
        from relapse_ml.scoring.render_html import html_page
        from relapse_ml.scoring.score import risk_curves
        from relapse_ml.utils import atomic_write_text

        atomic_write_text(html_out, html_page(doc, risk_curves(scoring_model, record)))
    if as_json:
        from relapse_ml.scoring.render import to_json

        print(to_json(doc))
        return
    from relapse_ml.scoring.render import terminal

    terminal(doc)
    if html_out is not None:
        import sys

        print(f"HTML summary written to {html_out}", file=sys.stderr)


def _score_cohort(
    model, cohort_dir: Path, out: Path, landmark_day, intervals: bool, as_json: bool, benefit=None
):
    import time

    from relapse_ml.data import read_cohort
    from relapse_ml.scoring.score import score_cohort
    from relapse_ml.utils import atomic_write_text

    t0 = time.perf_counter()
    cohort = read_cohort(cohort_dir)
    t1 = time.perf_counter()
    table = score_cohort(model, cohort, landmark_day, intervals=intervals, benefit=benefit)
    atomic_write_text(out, table.to_csv(index=False))
    t2 = time.perf_counter()
    summary = {
        "patients": int(len(table)),
        "at_risk": int(table["at_risk"].sum()),
        "out": str(out),
        "landmark_day": float(table["landmark_day"].iloc[0]) if len(table) else None,
        "with_warnings": int(((table["warnings"] != "") & table["at_risk"]).sum()),
        "eligibility": {k: int(v) for k, v in table["eligibility"].value_counts().items()},
        "seconds": {"read_and_validate": round(t1 - t0, 2), "score_and_write": round(t2 - t1, 2)},
    }
    if as_json:
        emit_json(summary)
        return
    print(
        f"{summary['patients']} patients scored ({summary['at_risk']} alive and relapse-free at "
        f"day {summary['landmark_day']:g}); {summary['with_warnings']} with warnings; "
        f"written to {out} in {t2 - t0:.1f} s"
    )
    print("Decision support from a research model, not a treatment order.")


def export_cmd(
    model: str = EXPORT_MODEL_OPT,
    out: Path = BUNDLE_OUT_OPT,
    data: Path | None = DATA_OPT,
    bootstrap: int = BOOTSTRAP_OPT,
    seed: int = SEED_OPT,
    overwrite: bool = OVERWRITE_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Write a portable, checksummed model bundle (no pickle) for fast scoring."""
    import sys

    from relapse_ml.scoring.export import export_model
    from relapse_ml.utils import check_output_dir

    check_output_dir(out, overwrite)  # a file, or a non-empty directory without --overwrite
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    path, loaded = export_model(
        model, out, data=data, bootstrap=bootstrap, seed=seed, overwrite=overwrite, progress=say
    )
    summary = {
        "bundle": str(path),
        "bundle_sha256": loaded.source["bundle_sha256"],
        "model": loaded.info.get("model"),
        "type": loaded.model_type,
        "version": loaded.info.get("model_version"),
        "run_id": loaded.info.get("run_id"),
        "bootstrap_replicates": len(loaded.replicates),
        "drivers": bool(loaded.background and loaded.background.get("reference")),
        "max_difference_vs_source": loaded.info.get("export_check_max_difference"),
    }
    if as_json:
        emit_json(summary)
        return
    print(
        f"bundle written to {path} ({summary['type']}, {len(loaded.replicates)} bootstrap replicates)"
    )
    print(f"bundle sha256 {summary['bundle_sha256']}")
    print(
        f"checked: bundle predictions equal the source model's (max difference "
        f"{summary['max_difference_vs_source']:.1g})"
    )
    print(f"score with: relapse-ml score --patient FILE.json --model {path}")
