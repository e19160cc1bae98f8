"""The data contract -> FHIR R4: a single-patient document as a Bundle, a score as a
RiskAssessment. Both are built as plain JSON and validated by `fhir.resources` (R4B).

The contract holds days, not dates: the Bundle places day 0 on ``transplant_date``
(default 2000-01-01, an obviously synthetic date) and every day after it. Reading the
Bundle back (`read.py`) gives the same days, so the same scores.
"""

from __future__ import annotations

import datetime as dt
import math

from relapse_ml.fhir.codemap import CodeMap, load_code_map
from relapse_ml.fhir.read import DEATH_CAUSE, FHIRError

SYNTHETIC_DAY0 = dt.date(2000, 1, 1)
SEX = {"M": "male", "F": "female", "unknown": "unknown"}
UNITS = {"mrd_mfc": "%", "donor_chimerism": "%", "wt1": "copies/10^4 ABL", "anc": "10*9/L",
         "plt": "10*9/L"}
CONDITION_EVENTS = ("agvhd", "cgvhd", "relapse")
SKIP_COLUMNS = ("patient_id", "sex")


def document_to_bundle(doc: dict, transplant_date: dt.date = SYNTHETIC_DAY0,
                       fhir_map=None) -> dict:
    """A validated single-patient document (`patient_from_dict` first) as a FHIR Bundle."""
    cm = fhir_map if isinstance(fhir_map, CodeMap) else load_code_map(fhir_map)
    w = _Writer(cm, transplant_date)
    p = doc["patient"]
    pid = str(p["patient_id"])
    resources = [w.patient(p, doc.get("events") or [])]
    resources.append({
        "resourceType": "Procedure", "id": w.next_id("transplant"), "status": "completed",
        "code": w.concept("transplant_code", None), "subject": w.subject(pid),
        "performedDateTime": w.when(0),
    })
    extras = doc.get("extra_columns") or {}
    for column, value in p.items():
        if column in SKIP_COLUMNS or _missing(value):
            continue
        if column == "diagnosis" and value != "unknown":
            resources.append({"resourceType": "Condition", "id": w.next_id("diagnosis"),
                              "code": w.concept("diagnoses", value), "subject": w.subject(pid)})
        elif value != "unknown":
            code = f"extra:{column}" if column in extras else column
            resources.append(w.observation(pid, w.field_concept(column, code), value))
    for m in doc.get("measurements") or []:
        obs = w.observation(pid, w.concept("markers", m["marker"]), float(m["value"]),
                            unit=UNITS.get(m["marker"]), day=m["day"])
        if not _missing(m.get("sample")):
            obs["bodySite"] = w.concept("samples", m["sample"])
        resources.append(obs)
    resources.extend(w.events(pid, doc.get("events") or []))
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": f"urn:uuid:{_uuid(pid, r)}", "resource": r}
                        for r in resources]}
    return validated(bundle)


def validated(resource: dict) -> dict:
    """``resource`` after `fhir.resources` R4B validation (a bug here is an internal error)."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


class _Writer:
    def __init__(self, cm: CodeMap, day0: dt.date):
        self.cm, self.day0, self.n = cm, day0, 0

    def next_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def subject(self, pid: str) -> dict:
        return {"reference": f"Patient/{pid}"}

    def when(self, day) -> str:
        day = float(day)
        if day == int(day):
            return (self.day0 + dt.timedelta(days=int(day))).isoformat()
        t = dt.datetime(self.day0.year, self.day0.month, self.day0.day, tzinfo=dt.UTC)
        return (t + dt.timedelta(days=day)).isoformat().replace("+00:00", "Z")

    def concept(self, section: str, name) -> dict:
        if section == "transplant_code":
            system, code = sorted(self.cm.transplant)[0]
            return {"coding": [{"system": system, "code": code}]}
        return {"coding": [self.cm.coding(section, str(name))]}

    def field_concept(self, column: str, code: str) -> dict:
        if code == column:
            return self.concept("patient_fields", column)
        return {"coding": [{"system": self.cm.local, "code": code}]}

    def observation(self, pid, code, value, unit=None, day=None) -> dict:
        obs = {"resourceType": "Observation", "id": self.next_id("obs"), "status": "final",
               "code": code, "subject": self.subject(pid)}
        if day is not None:
            obs["effectiveDateTime"] = self.when(day)
        if isinstance(value, bool):
            obs["valueBoolean"] = value
        elif isinstance(value, int | float):
            q = {"value": _num(value)}
            if unit:
                q["unit"] = unit
            obs["valueQuantity"] = q
        else:
            obs["valueCodeableConcept"] = {"coding": [{"system": self.cm.local,
                                                       "code": str(value)}]}
        return obs

    def patient(self, p: dict, events: list) -> dict:
        res = {"resourceType": "Patient", "id": str(p["patient_id"]),
               "gender": SEX.get(str(p.get("sex")), "unknown")}
        for e in events:
            if e["event"] == "death":
                res["deceasedDateTime"] = self.when(e["day"])
                if not _missing(e.get("detail")):
                    res["extension"] = [{"url": DEATH_CAUSE, "valueString": str(e["detail"])}]
        return res

    def events(self, pid: str, events: list) -> list[dict]:
        out = []
        open_course = None
        for e in sorted(events, key=lambda e: float(e["day"])):
            kind, day = e["event"], e["day"]
            if kind == "death":
                continue
            if kind in CONDITION_EVENTS:
                cond = {"resourceType": "Condition", "id": self.next_id(kind),
                        "code": self.concept("conditions", kind), "subject": self.subject(pid),
                        "onsetDateTime": self.when(day)}
                if not _missing(e.get("grade")):
                    cond["stage"] = [{"summary": {"coding": [
                        {"system": self.cm.local, "code": f"grade_{int(e['grade'])}"}]}}]
                out.append(cond)
            elif kind in ("sorafenib_start", "sorafenib_stop"):
                if kind == "sorafenib_start" or open_course is None:
                    open_course = self._statement(pid)
                    out.append(open_course)
                key = "start" if kind == "sorafenib_start" else "end"
                open_course.setdefault("effectivePeriod", {})[key] = self.when(day)
                if kind == "sorafenib_stop":
                    if not _missing(e.get("detail")):
                        open_course["statusReason"] = [{"coding": [
                            {"system": self.cm.local, "code": str(e["detail"])}]}]
                    open_course["status"] = "completed"
                    open_course = None
            elif kind == "sorafenib_dose_change":
                st = self._statement(pid)
                st["effectiveDateTime"] = self.when(day)
                st["dosage"] = [{"doseAndRate": [{"doseQuantity": {
                    "value": _num(e["grade"]), "unit": "mg", "system": "http://unitsofmeasure.org",
                    "code": "mg"}}]}]
                out.append(st)
            else:
                obs = self.observation(pid, self.concept("event_observations", kind), None,
                                       day=day)
                obs.pop("valueCodeableConcept", None)
                if not _missing(e.get("grade")):
                    obs["valueQuantity"] = {"value": _num(e["grade"])}
                if not _missing(e.get("detail")):
                    obs["note"] = [{"text": str(e["detail"])}]
                out.append(obs)
        return out

    def _statement(self, pid: str) -> dict:
        return {"resourceType": "MedicationStatement", "id": self.next_id("sorafenib"),
                "status": "active", "medicationCodeableConcept": self.concept(
                    "medications", "sorafenib"), "subject": self.subject(pid)}


def risk_assessment(score: dict) -> dict:
    """A score document (`score_record`) as a FHIR RiskAssessment: one prediction per arm,
    horizon and outcome (relapse, non-relapse death), the model as its basis, the
    decision-support disclaimer as a note. Horizons count from the landmark (visit) day."""
    m = score["model"]
    local = "https://relapse-ml.org/fhir/CodeSystem/contract"
    L = score["landmark_day"]
    arm_words = {"control": "without sorafenib", "sorafenib": "with sorafenib",
                 "observed": "as treated"}
    predictions = []
    for r in score["risks"]:
        for outcome, words in (("relapse", "Relapse"), ("nrm", "Non-relapse death")):
            predictions.append({
                "outcome": {"coding": [{"system": local, "code": outcome}],
                            "text": f"{words} within {r['horizon_days']:g} days after day "
                                    f"{L:g}, {arm_words.get(r['arm'], r['arm'])}"},
                "probabilityDecimal": round(float(r[outcome]), 6),
                "whenRange": {"low": {"value": 0, "unit": "d"},
                              "high": {"value": _num(r["horizon_days"]), "unit": "d"}},
                "rationale": f"arm: {r['arm']}; horizon counted from the landmark, day {L:g} "
                             "after the transplant",
            })
    basis = {"display": f"relapse-ml model {m['name']} ({m['type']})"
                        + (f", registry version {m['version']}" if m.get("version") else "")}
    ident = m.get("bundle_sha256") or m.get("run_id")
    if ident:
        basis["identifier"] = {"system": "https://relapse-ml.org/fhir/model-id", "value": ident}
    warnings = "; ".join(w["code"] for w in score.get("warnings") or [])
    notes = [{"text": score["disclaimer"]}]
    est = score.get("benefit_estimate") or {}
    if est.get("source") == "benefit_export":
        notes.append({"text": "sorafenib benefit (change in risk with sorafenib, "
                              f"{est['horizon_days']:g} days after day {est['landmark_day']:g}; "
                              "reported estimate of a benefit analysis): "
                              + "; ".join(o["statement"] for o in est["outcomes"].values())})
    elif est.get("note") and score.get("benefit"):
        notes.append({"text": f"change with sorafenib: {est['note']}"})
    if warnings:
        notes.append({"text": f"warnings: {warnings}"})
    ra = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": f"Patient/{score['patient_id']}"},
        "method": {"coding": [{"system": local, "code": "relapse-ml"}],
                   "text": "relapse-ml competing-risk model (landmark, cumulative incidence)"},
        "basis": [basis],
        "prediction": predictions,
        "note": notes,
    }
    return validated(ra)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v == ""


def _num(v):
    v = float(v)
    return int(v) if v == int(v) else v


def _uuid(pid: str, r: dict) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pid}/{r['resourceType']}/{r.get('id')}"))


__all__ = ["FHIRError", "document_to_bundle", "risk_assessment"]
