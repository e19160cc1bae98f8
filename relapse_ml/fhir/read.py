"""A FHIR R4 Bundle -> the data contract's single-patient document (days, never dates).

The Bundle is validated by `fhir.resources` (R4B models: the R4-era resources), then read
with the code map (`codemap.py`, ``codes.yaml``). Day 0 is the transplant Procedure's
date; every other date becomes days since it as it is read, and no date, name or
identifier leaves this module (the Patient's logical id becomes ``patient_id``). Resources
the map cannot place are returned to the caller, who lists them in one warning.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from relapse_ml.errors import RelapseMLError
from relapse_ml.fhir.codemap import CodeMap, codings, first_match, load_code_map

FUTURE_SLACK = dt.timedelta(days=1)
SEX = {"male": "M", "female": "F", "other": "unknown", "unknown": "unknown"}
SKIP_STATUS = {"entered-in-error", "cancelled", "not-done", "refuted", "not-taken"}
DEATH_CAUSE = "https://relapse-ml.org/fhir/StructureDefinition/death-cause"
UNKNOWN_DEFAULTS = ("sex", "diagnosis", "disease_status", "cytogenetic_risk", "flt3",
                    "pre_hsct_mrd", "donor_type", "conditioning")


class FHIRError(RelapseMLError):
    """Invalid or unusable FHIR input (exit 2, one line)."""


def read_bundle_file(path, fhir_map=None) -> tuple[dict, list[str], list[str]]:
    """``(document, unmapped, defaulted)`` of a Bundle file (see `bundle_to_document`)."""
    from relapse_ml.scoring.patient import parse_json, read_text

    path = Path(path)
    return bundle_to_document(parse_json(read_text(path), path.name), path.name, fhir_map)


def validate_bundle(doc, label: str):
    """The `fhir.resources` R4B Bundle of ``doc``; the first problem as one line."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        got = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        raise FHIRError(f"{label}: expected a FHIR Bundle (resourceType 'Bundle'), got {got!r}")
    try:
        return Bundle.model_validate(doc)
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(x) for x in e.get("loc", ())) or "(root)"
        msg = " ".join(str(e.get("msg", "invalid")).split())[:200]
        raise FHIRError(f"{label}: invalid FHIR R4 at {where}: {msg}") from None
    except (ValueError, TypeError, KeyError, RecursionError) as err:
        msg = " ".join(str(err).split())[:200]
        raise FHIRError(f"{label}: invalid FHIR R4 ({type(err).__name__}: {msg})") from None


def bundle_to_document(doc, label: str = "bundle", fhir_map=None):
    """``(single-patient document, unmapped resources, fields defaulted to unknown)``."""
    cm = fhir_map if isinstance(fhir_map, CodeMap) else load_code_map(fhir_map)
    bundle = validate_bundle(doc, label)
    return _Reader(cm, label).read([e.resource for e in (bundle.entry or []) if e.resource])


class _Reader:
    def __init__(self, cm: CodeMap, label: str):
        self.cm, self.label = cm, label
        self.patient: dict = {}
        self.measurements: list[dict] = []
        self.events: list[dict] = []
        self.extras: dict[str, str] = {}
        self.unmapped: list[str] = []
        self.day0 = None
        self.now = dt.datetime.now(dt.UTC)

    def fail(self, res, why: str):
        raise FHIRError(f"{self.label}: {_name(res)}: {why}")

    def read(self, resources):
        seen = set()
        for r in resources:
            key = (r.get_resource_type(), r.id)
            if r.id is not None and key in seen:
                raise FHIRError(f"{self.label}: {key[0]}/{key[1]} appears twice in the Bundle")
            seen.add(key)
        patients = [r for r in resources if r.get_resource_type() == "Patient"]
        if len(patients) != 1:
            raise FHIRError(f"{self.label}: the Bundle must hold exactly one Patient, "
                            f"found {len(patients)}")
        self._day0(resources)
        self._patient(patients[0])
        self.meds = {r.id: r for r in resources if r.get_resource_type() == "Medication"}
        handlers = {"Observation": self._observation, "Condition": self._condition,
                    "MedicationStatement": self._medication,
                    "MedicationAdministration": self._medication}
        for r in resources:
            kind = r.get_resource_type()
            if kind in ("Patient", "Medication") or r is self.transplant:
                continue
            status = _status(r)
            if status in SKIP_STATUS:
                self.unmapped.append(f"{_name(r)} (status {status})")
                continue
            handler = handlers.get(kind)
            if handler is None or not handler(r):
                self.unmapped.append(_describe(r))
        defaulted = [c for c in UNKNOWN_DEFAULTS if c not in self.patient]
        for c in defaulted:
            self.patient[c] = "unknown"
        self.patient.setdefault("ecog", None)
        if "age" not in self.patient:
            raise FHIRError(f"{self.label}: no age: give Patient.birthDate or an age Observation "
                            f"({self.cm.local}|age, years at transplant)")
        doc = {"patient": self.patient, "measurements": self.measurements, "events": self.events}
        if self.extras:
            doc["extra_columns"] = self.extras
        return doc, self.unmapped, defaulted

    # -- day 0 and dates ----------------------------------------------------------------
    def _day0(self, resources):
        found = [r for r in resources if r.get_resource_type() == "Procedure"
                 and _status(r) not in SKIP_STATUS
                 and any(c in self.cm.transplant for c in codings(r.code))]
        if len(found) != 1:
            raise FHIRError(
                f"{self.label}: the Bundle must hold exactly one transplant Procedure (day 0), "
                f"found {len(found)}; transplant codes: "
                + ", ".join(f"{s}|{c}" for s, c in sorted(self.cm.transplant))
            )
        self.transplant = found[0]
        when = self.transplant.performedDateTime or (
            self.transplant.performedPeriod.start if self.transplant.performedPeriod else None)
        if when is None:
            self.fail(self.transplant, "the transplant Procedure needs performedDateTime "
                      "(its date is day 0)")
        self.day0 = _instant(when)
        if self.day0 > self.now + FUTURE_SLACK:
            self.fail(self.transplant, "the transplant date is in the future")

    def day(self, res, when) -> float:
        if when is None:
            self.fail(res, "no date (effective[x] / onset[x]) to place it in time")
        t = _instant(when)
        if t > self.now + FUTURE_SLACK:
            self.fail(res, "its date is in the future")
        d = round((t - self.day0).total_seconds() / 86400.0, 6)
        return int(d) if d == int(d) else d

    # -- resources --------------------------------------------------------------------------
    def _patient(self, p):
        if p.id is None:
            self.fail(p, "the Patient needs an id (a pseudonymous id: it becomes patient_id)")
        self.patient["patient_id"] = str(p.id)
        if p.gender is not None:
            if str(p.gender) not in SEX:
                self.fail(p, f"gender {str(p.gender)[:40]!r} is not one of {', '.join(SEX)}")
            self.patient["sex"] = SEX[str(p.gender)]
        if p.birthDate is not None:  # age at transplant; the birth date itself is not kept
            years = (self.day0.date() - p.birthDate).days / 365.25
            self.patient["age"] = round(years, 1)
        if p.deceasedDateTime is not None:
            event = {"day": self.day(p, p.deceasedDateTime), "event": "death"}
            for ext in p.extension or []:
                if ext.url == DEATH_CAUSE and ext.valueString:
                    event["detail"] = ext.valueString
            self.events.append(event)
        elif p.deceasedBoolean:
            self.fail(p, "deceasedBoolean without a date: give deceasedDateTime")

    def _observation(self, o) -> bool:
        when = o.effectiveDateTime or o.effectiveInstant or (
            o.effectivePeriod.start if o.effectivePeriod else None)
        marker, _ = first_match(o.code, self.cm.markers)
        if marker is not None:
            value = _number(o)
            if value is None:
                self.fail(o, f"a {marker} Observation needs a finite numeric value")
            row = {"day": self.day(o, when), "marker": marker, "value": value}
            sample, pairs = first_match(o.bodySite, self.cm.samples)
            if sample is not None:
                row["sample"] = sample
            elif pairs:
                self.fail(o, f"bodySite {_codes(pairs)} is not a sample in the code map "
                          "(samples: bone marrow BM, peripheral blood PB)")
            self.measurements.append(row)
            return True
        column, _ = first_match(o.code, self.cm.patient_fields)
        if column is not None or _extra(o, self.cm):
            name = column or _extra(o, self.cm)
            if name in self.patient:
                self.fail(o, f"a second value for {name}")
            value = _value(o)
            if value is None:
                self.fail(o, f"the Observation for {name} has no usable value")
            self.patient[name] = value
            if column is None:
                self.extras[name] = ("bool" if isinstance(value, bool) else
                                     "number" if isinstance(value, int | float) else "string")
            return True
        event, _ = first_match(o.code, self.cm.event_observations)
        if event is not None:
            row = {"day": self.day(o, when), "event": event}
            grade = _number(o)
            if grade is not None:
                row["grade"] = grade
            if o.note and o.note[0].text:
                row["detail"] = o.note[0].text
            self.events.append(row)
            return True
        return False

    def _condition(self, c) -> bool:
        event, _ = first_match(c.code, self.cm.conditions)
        if event is not None:
            when = c.onsetDateTime or (c.onsetPeriod.start if c.onsetPeriod else None)
            row = {"day": self.day(c, when), "event": event}
            seen = []
            for concept in [*(s.summary for s in (c.stage or [])), c.severity]:
                grade, pairs = first_match(concept, self.cm.grades)
                seen += pairs
                if grade is not None:
                    row["grade"] = grade
                    break
            else:
                if seen:
                    self.fail(c, f"grade {_codes(seen)} is not in the code map's grades")
            self.events.append(row)
            return True
        diagnosis, _ = first_match(c.code, self.cm.diagnoses)
        if diagnosis is not None:
            if self.patient.get("diagnosis", diagnosis) != diagnosis:
                self.fail(c, f"a second diagnosis ({self.patient['diagnosis']} and {diagnosis})")
            self.patient["diagnosis"] = diagnosis
            return True
        return False

    def _medication(self, m) -> bool:
        concept = m.medicationCodeableConcept
        if concept is None and m.medicationReference is not None:
            ref = str(m.medicationReference.reference or "").split("/")[-1]
            med = self.meds.get(ref)
            concept = med.code if med is not None else None
        drug, _ = first_match(concept, self.cm.medications)
        if drug != "sorafenib":
            return False
        period = m.effectivePeriod
        if period is not None:
            if period.start is None and period.end is None:
                self.fail(m, "effectivePeriod has neither start nor end")
            if period.start is not None:
                self.events.append({"day": self.day(m, period.start), "event": "sorafenib_start"})
            if period.end is not None:
                row = {"day": self.day(m, period.end), "event": "sorafenib_stop"}
                reason = _reason(m)
                if reason:
                    row["detail"] = reason
                self.events.append(row)
            return True
        day = self.day(m, m.effectiveDateTime)
        dose = _dose_mg(m)
        if dose is None:
            self.events.append({"day": day, "event": "sorafenib_start"})
        else:
            self.events.append({"day": day, "event": "sorafenib_dose_change", "grade": dose})
        return True


# -- small readers -------------------------------------------------------------------------------
def _instant(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    raise FHIRError(f"unreadable date {value!r}")


def _codes(pairs) -> str:
    return ", ".join(f"{s[:60]}|{c[:40]}" for s, c in pairs[:2])


def _name(r) -> str:
    return f"{r.get_resource_type()}/{r.id or '(no id)'}"


def _status(r):
    s = getattr(r, "status", None) or getattr(getattr(r, "verificationStatus", None), "coding", None)
    if isinstance(s, list):
        return s[0].code if s else None
    return str(s) if s is not None else None


def _describe(r) -> str:
    code = getattr(r, "code", None) or getattr(r, "medicationCodeableConcept", None)
    pairs = codings(code) if code is not None and hasattr(code, "coding") else []
    return _name(r) + (f" ({', '.join(f'{s}|{c}' for s, c in pairs[:2])})" if pairs else "")


def _finite(x):
    if x is None or isinstance(x, bool):
        return None
    x = float(x)
    return (int(x) if x == int(x) else x) if math.isfinite(x) else None


def _number(o):
    if o.valueQuantity is not None:
        return _finite(o.valueQuantity.value)
    return _finite(o.valueInteger)


def _value(o):
    if o.valueBoolean is not None:
        return bool(o.valueBoolean)
    n = _number(o)
    if n is not None:
        return n
    if o.valueString is not None:
        return str(o.valueString)
    if o.valueCodeableConcept is not None:
        pairs = codings(o.valueCodeableConcept)
        return pairs[0][1] if pairs else (o.valueCodeableConcept.text or None)
    return None


def _extra(o, cm) -> str | None:
    for system, code in codings(o.code):
        if system == cm.local and code.startswith("extra:") and len(code) > 6:
            return code[6:]
    return None


def _reason(m) -> str | None:
    for concept in (getattr(m, "statusReason", None) or []):
        pairs = codings(concept)
        if pairs:
            return pairs[0][1]
        if concept.text:
            return concept.text
    return None


def _dose_mg(m):
    dosage = getattr(m, "dosage", None)
    if dosage is None:
        return None
    if isinstance(dosage, list):  # MedicationStatement
        for d in dosage:
            for dr in d.doseAndRate or []:
                q = dr.doseQuantity
                if q is not None:
                    return _mg(m, q)
        return None
    return _mg(m, dosage.dose) if dosage.dose is not None else None  # MedicationAdministration


def _mg(m, q):
    if q.unit not in (None, "mg") and q.code not in (None, "mg"):
        raise FHIRError(f"{_name(m)}: sorafenib dose in {q.unit or q.code!r}; give it in mg")
    value = _finite(q.value)
    if value is None:
        raise FHIRError(f"{_name(m)}: the sorafenib dose is not a finite number")
    return value
