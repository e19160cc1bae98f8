"""FHIR R4 in and out: Bundle -> contract (days, no dates), contract -> Bundle, RiskAssessment."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

from relapse_ml.errors import RelapseMLError
from relapse_ml.fhir import bundle_to_document, document_to_bundle, risk_assessment
from relapse_ml.fhir.record import latest_day, warning_line
from relapse_ml.scoring.model import from_predictor
from relapse_ml.scoring.patient import patient_from_dict, record_from_cohort
from relapse_ml.scoring.score import score_record
from tests._helpers_scoring import cli, fit_predictor, simulated_trial_dir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "patient_example.json"
EXAMPLE_FHIR = ROOT / "examples" / "patient_example_fhir.json"
SCT, LOINC = "http://snomed.info/sct", "http://loinc.org"
LOCAL = "https://relapse-ml.org/fhir/CodeSystem/contract"


def hospital_bundle() -> dict:
    """A Bundle as a hospital exports it: real dates, names, identifiers, an Encounter."""
    def entry(r):
        return {"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r}

    subj = {"reference": "Patient/p-7f3a"}
    res = [
        {"resourceType": "Patient", "id": "p-7f3a", "gender": "male", "birthDate": "1970-03-01",
         "name": [{"family": "Doe", "given": ["John"]}],
         "identifier": [{"system": "urn:mrn", "value": "MRN-0042"}]},
        {"resourceType": "Procedure", "id": "tx", "status": "completed", "subject": subj,
         "code": {"coding": [{"system": SCT, "code": "234336002"}]},
         "performedDateTime": "2024-03-01"},
        {"resourceType": "Observation", "id": "anc1", "status": "final", "subject": subj,
         "code": {"coding": [{"system": LOINC, "code": "751-8"}]},
         "effectiveDateTime": "2024-03-15", "valueQuantity": {"value": 1.2, "unit": "10*9/L"},
         "bodySite": {"coding": [{"system": SCT, "code": "87612001"}]}},
        {"resourceType": "Observation", "id": "mrd1", "status": "final", "subject": subj,
         "code": {"coding": [{"system": "https://lab.example-hospital.org/codes",
                              "code": "FLOW-MRD"}]},
         "effectiveDateTime": "2024-04-30T09:00:00Z", "valueQuantity": {"value": 0.02}},
        {"resourceType": "Condition", "id": "gvhd", "subject": subj,
         "code": {"coding": [{"system": SCT, "code": "402355000"}]},
         "stage": [{"summary": {"coding": [{"system": LOCAL, "code": "grade_2"}]}}],
         "onsetDateTime": "2024-03-26"},
        {"resourceType": "Condition", "id": "dx", "subject": subj,
         "code": {"coding": [{"system": SCT, "code": "91861009"}]}},
        {"resourceType": "MedicationStatement", "id": "sora", "status": "active", "subject": subj,
         "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "495881"}]},
         "effectivePeriod": {"start": "2024-04-25"}},
        {"resourceType": "Encounter", "id": "enc1", "status": "finished",
         "class": {"code": "AMB"}, "subject": subj},
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": [entry(r) for r in res]}


def test_a_hospital_bundle_becomes_days_with_no_date_name_or_identifier():
    doc, unmapped, defaulted = bundle_to_document(hospital_bundle())
    assert doc["patient"]["patient_id"] == "p-7f3a" and doc["patient"]["sex"] == "M"
    assert doc["patient"]["age"] == pytest.approx(54.0, abs=0.1)  # birth date -> age, then dropped
    assert doc["patient"]["diagnosis"] == "AML"
    assert doc["measurements"] == [{"day": 14, "marker": "anc", "value": 1.2, "sample": "PB"}]
    days = {e["event"]: e for e in doc["events"]}
    assert days["agvhd"] == {"day": 25, "event": "agvhd", "grade": 2}
    assert days["sorafenib_start"]["day"] == 55
    text = json.dumps(doc)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # no calendar date kept
    for secret in ("Doe", "John", "MRN-0042", "1970"):
        assert secret not in text
    # the local MRD code and the Encounter are not in the built-in map: listed, not dropped
    assert any("Observation/mrd1" in u and "FLOW-MRD" in u for u in unmapped)
    assert any(u.startswith("Encounter/enc1") for u in unmapped)
    assert "cytogenetic_risk" in defaulted and "diagnosis" not in defaulted
    line = warning_line("b.json", unmapped, defaulted)
    assert "\n" not in line and "Observation/mrd1" in line and "Encounter/enc1" in line


def test_a_local_code_map_places_the_local_codes():
    doc, unmapped, _ = bundle_to_document(hospital_bundle(),
                                          fhir_map=ROOT / "examples" / "fhir_map_local.yaml")
    mrd = [m for m in doc["measurements"] if m["marker"] == "mrd_mfc"]
    assert mrd == [{"day": pytest.approx(60 + 9 / 24), "marker": "mrd_mfc", "value": 0.02}]
    assert [u for u in unmapped if "mrd1" in u] == []
    assert latest_day(doc) == pytest.approx(60.375)


def test_example_json_round_trips_through_fhir_exactly():
    doc = json.loads(EXAMPLE.read_text())
    doc.pop("landmark_day")
    bundle = document_to_bundle(doc)
    back, unmapped, defaulted = bundle_to_document(bundle)
    assert unmapped == [] and defaulted == []
    assert back["patient"] == doc["patient"]
    assert back["measurements"] == doc["measurements"]
    assert sorted(back["events"], key=lambda e: (e["day"], e["event"])) == doc["events"]
    # the shipped example is this Bundle (regenerate: relapse-ml patient to-fhir)
    assert json.loads(EXAMPLE_FHIR.read_text()) == bundle


def test_every_event_kind_and_fractional_days_round_trip():
    doc = json.loads(EXAMPLE.read_text())
    doc.pop("landmark_day")
    doc["events"] += [
        {"day": 61.5, "event": "sorafenib_start"},
        {"day": 90, "event": "sorafenib_dose_change", "grade": 200},
        {"day": 120, "event": "sorafenib_stop", "detail": "toxicity"},
        {"day": 150, "event": "cgvhd", "grade": 3},
        {"day": 170, "event": "dli"},
        {"day": 200, "event": "relapse"},
        {"day": 230, "event": "death", "detail": "relapse"},
    ]
    patient_from_dict(copy.deepcopy(doc), landmark_day=60)
    back, unmapped, _ = bundle_to_document(document_to_bundle(doc))
    key = lambda e: (float(e["day"]), e["event"])  # noqa: E731
    assert unmapped == []
    assert sorted(back["events"], key=key) == sorted(doc["events"], key=key)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from relapse_ml.data import read_cohort

    cohort = read_cohort(simulated_trial_dir(tmp_path_factory.mktemp("fhir")))
    predictor, _ = fit_predictor(cohort, "cox_cs")
    return from_predictor(predictor), cohort


def test_round_trip_gives_identical_scores_and_a_valid_risk_assessment(model):
    from fhir.resources.R4B.riskassessment import RiskAssessment

    scoring, cohort = model
    for pid in cohort.patients["patient_id"].iloc[:5]:
        doc = record_from_cohort(cohort, pid)
        try:
            rec = patient_from_dict(copy.deepcopy(doc), landmark_day=60)
        except RelapseMLError:
            continue  # relapsed or died by day 60: not scored
        back, unmapped, _ = bundle_to_document(document_to_bundle(doc))
        assert unmapped == []
        a = score_record(scoring, rec)
        b = score_record(scoring, patient_from_dict(back, landmark_day=60))
        assert [r["relapse"] for r in a["risks"]] == [r["relapse"] for r in b["risks"]]
        assert [r["nrm"] for r in a["risks"]] == [r["nrm"] for r in b["risks"]]
    ra = risk_assessment(a)
    RiskAssessment.model_validate(ra)  # a valid R4 resource
    assert len(ra["prediction"]) == 2 * len(a["risks"])  # relapse and NRM per arm and horizon
    relapse = [p["probabilityDecimal"] for p in ra["prediction"] if
               p["outcome"]["coding"][0]["code"] == "relapse"]
    np.testing.assert_allclose(relapse, [r["relapse"] for r in a["risks"]], atol=1e-6)
    assert "not a treatment order" in ra["note"][0]["text"]
    assert {p["rationale"].split(";")[0] for p in ra["prediction"]} == {
        "arm: control", "arm: sorafenib"}


@pytest.mark.parametrize(
    "mutate, expect",
    [
        (lambda b: b.update(resourceType="Patient"), "expected a FHIR Bundle"),
        (lambda b: b["entry"][2]["resource"].update(valueQuantity={"value": "lots"}),
         "invalid FHIR R4"),
        (lambda b: b["entry"].append(copy.deepcopy(b["entry"][1])), "appears twice"),
        (lambda b: b["entry"].pop(1), "exactly one transplant Procedure"),
        (lambda b: b["entry"][2]["resource"].update(effectiveDateTime="2999-01-01"),
         "in the future"),
        (lambda b: b["entry"][2]["resource"].pop("effectiveDateTime"), "no date"),
        (lambda b: b["entry"][0]["resource"].pop("birthDate"), "no age"),
    ],
)
def test_invalid_fhir_is_one_line(mutate, expect):
    b = hospital_bundle()
    mutate(b)
    with pytest.raises(RelapseMLError) as err:
        bundle_to_document(b)
    assert expect in str(err.value) and "\n" not in str(err.value)


def test_cli_score_fhir_patient_round_trip_and_one_line_errors(tmp_path):
    bundle = tmp_path / "b.json"
    res = cli("patient", "to-fhir", EXAMPLE, "--out", bundle, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = cli("patient", "from-fhir", bundle, "--landmark-day", 60, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["landmark_day"] == 60 and doc["patient"]["patient_id"] == "EX-0001"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": 7}))
    for args in (("score", "--fhir", bad), ("patient", "from-fhir", bad)):
        res = cli(*args, cwd=tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "invalid FHIR R4" in res.stderr
