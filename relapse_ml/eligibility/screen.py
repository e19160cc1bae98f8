"""Screen a cohort against the trial's criteria: per-patient status and reasons, per-criterion counts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from relapse_ml.eligibility._input import FAILED, MET, NOT_ASSESSABLE, STATUS_TEXT, ScreeningInput
from relapse_ml.eligibility.criteria import CRITERIA, Criterion
from relapse_ml.errors import RelapseMLError

CRITERION_STATUSES = ("met", "failed", "not_assessable")
PATIENT_STATUSES = ("eligible", "not_eligible", "not_assessable")
_EVENT_COLUMNS = ("patient_id", "day", "event", "grade", "detail")
_MEASUREMENT_COLUMNS = ("patient_id", "day", "marker", "value")


@dataclass
class EligibilityResult:
    """Result of `screen`.

    ``per_patient``: ``patient_id``, ``status`` (eligible / not_eligible / not_assessable),
    ``reasons`` ("; "-joined, one entry per failed or not assessable criterion) and one
    column per criterion id (met / failed / not_assessable). ``details``: the same
    criterion columns holding the short evidence text ("age 71"). ``summary``: one row per
    criterion with its counts.
    """

    per_patient: pd.DataFrame
    details: pd.DataFrame
    summary: pd.DataFrame
    criteria: tuple[Criterion, ...]
    as_of_day: float
    records_events: frozenset[str]
    ignored_columns: frozenset[str]

    def counts(self) -> dict[str, int]:
        """Number of patients per status (all three keys, zeros included)."""
        vc = self.per_patient["status"].value_counts()
        return {s: int(vc.get(s, 0)) for s in PATIENT_STATUSES}


def _table(frame: pd.DataFrame | None, columns: Sequence[str]) -> pd.DataFrame:
    """A long table with at least ``columns`` (empty ones added), numeric ``day``."""
    frame = pd.DataFrame(columns=list(columns)) if frame is None else frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        frame = frame.assign(**{c: np.nan for c in missing})
    frame = frame.assign(day=pd.to_numeric(frame["day"], errors="coerce"))
    return frame


def screening_input(
    cohort,
    as_of_day: float = 60,
    records_events: Iterable[str] | None = None,
    ignore_columns: Iterable[str] | None = None,
) -> ScreeningInput:
    """The data a criterion may use: events and measurements on or before ``as_of_day``.

    ``records_events`` defaults to the event types present (on or before ``as_of_day``)
    anywhere in the cohort; ``ignore_columns`` defaults to the cohort's
    ``imputed_columns`` (placeholders of a public data set), if it has any.
    """
    try:
        as_of = float(as_of_day)
    except (TypeError, ValueError):
        as_of = math.nan
    if not math.isfinite(as_of) or as_of < 0:
        raise RelapseMLError(
            f"as_of_day must be a number of days >= 0 since transplant, got {as_of_day!r}"
        )
    patients = cohort.patients
    if "patient_id" not in patients.columns:
        raise RelapseMLError(
            "patients table has no patient_id column; the eligibility check needs one"
        )
    events = _table(cohort.events, _EVENT_COLUMNS)
    measurements = _table(cohort.measurements, _MEASUREMENT_COLUMNS)
    # the screening day is the randomization window: nothing later may change the answer
    events = events[events["day"] <= as_of]
    measurements = measurements[measurements["day"] <= as_of]
    if records_events is None:
        records_events = events["event"].dropna().astype(str).unique()
    if ignore_columns is None:
        ignore_columns = getattr(cohort, "imputed_columns", None) or ()
    return ScreeningInput(
        patients=patients.reset_index(drop=True),
        events=events,
        measurements=measurements,
        as_of_day=as_of,
        records_events=frozenset(records_events),
        ignore_columns=frozenset(ignore_columns) - {"patient_id"},
    )


def _reason_pieces(criterion: Criterion, code: np.ndarray, detail: np.ndarray) -> np.ndarray:
    out = np.full(len(code), "", dtype=object)
    for value, word in ((FAILED, "failed"), (NOT_ASSESSABLE, "not assessable")):
        idx = np.flatnonzero(code == value)
        out[idx] = [
            f"{criterion.label}: {word} ({d})" if d else f"{criterion.label}: {word}"
            for d in detail[idx]
        ]
    return out


def _categorical(codes: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(
        np.select([codes == MET, codes == FAILED], [0, 1], 2).astype(np.int8),
        categories=list(CRITERION_STATUSES),
    )


def screen(
    cohort,
    criteria: Sequence[Criterion] = CRITERIA,
    as_of_day: float = 60,
    *,
    records_events: Iterable[str] | None = None,
    ignore_columns: Iterable[str] | None = None,
) -> EligibilityResult:
    """Screen every patient of ``cohort`` (anything with ``patients``, ``events``, ``measurements``).

    A patient is not eligible if any criterion failed; else not assessable if any
    criterion is not assessable; else eligible. Only events and measurements on or before
    ``as_of_day`` are used. See `screening_input` for ``records_events`` / ``ignore_columns``.
    """
    criteria = tuple(criteria)
    ids = [c.id for c in criteria]
    if len(set(ids)) != len(ids):
        raise RelapseMLError(
            "criteria ids must be unique: "
            + ", ".join(sorted({i for i in ids if ids.count(i) > 1}))
        )
    clash = set(ids) & {"patient_id", "status", "reasons"}
    if clash:
        raise RelapseMLError(
            f"criterion id clashes with a result column: {', '.join(sorted(clash))}"
        )
    data = screening_input(cohort, as_of_day, records_events, ignore_columns)
    n = data.n
    codes, details, pieces = {}, {}, []
    for c in criteria:
        verdict = c.evaluate(data)
        codes[c.id] = np.asarray(verdict.code, dtype=np.int8)
        details[c.id] = np.asarray(verdict.detail, dtype=object)
        pieces.append(_reason_pieces(c, codes[c.id], details[c.id]))

    stack = np.vstack([codes[i] for i in ids]) if ids else np.empty((0, n), np.int8)
    any_failed = (stack == FAILED).any(axis=0)
    any_unknown = (stack == NOT_ASSESSABLE).any(axis=0)
    status = np.select([any_failed, any_unknown], [1, 2], 0).astype(np.int8)
    reasons = (
        ["; ".join(p for p in row if p) for row in zip(*pieces, strict=True)]
        if pieces
        else [""] * n
    )

    per_patient = pd.DataFrame(
        {
            "patient_id": data.ids.to_numpy(dtype=object),
            "status": pd.Categorical.from_codes(status, categories=list(PATIENT_STATUSES)),
            "reasons": np.asarray(reasons, dtype=object),
            **{i: _categorical(codes[i]) for i in ids},
        }
    )
    detail_frame = pd.DataFrame({"patient_id": per_patient["patient_id"], **details})
    summary = pd.DataFrame(
        [
            {
                "criterion": c.id,
                "kind": c.kind,
                "label": c.label,
                "source": c.source,
                **{
                    STATUS_TEXT[v]: int((codes[c.id] == v).sum())
                    for v in (MET, FAILED, NOT_ASSESSABLE)
                },
            }
            for c in criteria
        ],
        columns=["criterion", "kind", "label", "source", "met", "failed", "not_assessable"],
    )
    return EligibilityResult(
        per_patient=per_patient,
        details=detail_frame,
        summary=summary,
        criteria=criteria,
        as_of_day=data.as_of_day,
        records_events=data.records_events,
        ignored_columns=data.ignore_columns,
    )


def _first_with(result: EligibilityResult, status: str, among: np.ndarray) -> pd.Series:
    """Per criterion, how many patients in ``among`` have ``status`` there first (criteria order)."""
    pp = result.per_patient
    taken = ~among.copy()
    counts = {}
    for c in result.criteria:
        hit = (pp[c.id] == status).to_numpy(bool) & ~taken
        counts[c.id] = int(hit.sum())
        taken |= hit
    return pd.Series(counts, dtype=int)


def consort_table(result: EligibilityResult, exclusions: str = "first") -> pd.DataFrame:
    """CONSORT-style screening flow: screened -> excluded by criterion -> not assessable -> eligible.

    ``exclusions="first"``: each excluded patient is counted once, under the first failing
    criterion in `CRITERIA` order, so the "excluded" rows add up to the not-eligible
    total and ``remaining`` counts down. ``exclusions="all"``: every failing criterion
    counts (a patient may appear in several rows; ``remaining`` is empty on those rows).
    Not-assessable patients are broken down by their first not-assessable criterion.
    Criteria with a zero count are left out of the breakdown rows (see ``summary``).
    """
    if exclusions not in ("first", "all"):
        raise RelapseMLError(f"exclusions must be 'first' or 'all', got {exclusions!r}")
    pp = result.per_patient
    labels = {c.id: c.label for c in result.criteria}
    status = pp["status"].astype(str).to_numpy()
    n = len(pp)
    not_eligible = status == "not_eligible"
    unknown = status == "not_assessable"
    rows = [("screened", "", "patients screened", n, n)]
    remaining = n
    if exclusions == "first":
        for cid, k in _first_with(result, "failed", not_eligible).items():
            if k:
                remaining -= k
                rows.append(("excluded", cid, labels[cid], k, remaining))
    else:
        for c in result.criteria:
            k = int((pp[c.id] == "failed").sum())
            if k:
                rows.append(("excluded", c.id, c.label + " (counts overlap)", k, None))
    remaining = n - int(not_eligible.sum())
    rows.append(
        (
            "not_eligible",
            "",
            "not eligible (any criterion failed)",
            int(not_eligible.sum()),
            remaining,
        )
    )
    for cid, k in _first_with(result, "not_assessable", unknown).items():
        if k:
            remaining -= k
            rows.append(("not_assessable", cid, labels[cid], k, remaining))
    rows.append(
        (
            "not_assessable_total",
            "",
            "not assessable (no failure, some criterion unknown)",
            int(unknown.sum()),
            n - int(not_eligible.sum()) - int(unknown.sum()),
        )
    )
    eligible = int((status == "eligible").sum())
    rows.append(("eligible", "", "eligible", eligible, eligible))
    table = pd.DataFrame(rows, columns=["step", "criterion", "label", "n", "remaining"])
    table["remaining"] = table["remaining"].astype("Int64")
    table.attrs["exclusions"] = exclusions
    return table


def screen_patient(
    patient: Mapping,
    measurements: Iterable[Mapping] = (),
    events: Iterable[Mapping] = (),
    as_of_day: float = 60,
    **options,
) -> dict:
    """Screen one patient record (the single-patient file's pieces); returns a JSON-ready dict.

    ``{"patient_id", "status", "reasons": [...], "criteria": {id: status}, "details": {id: text}}``.
    ``options`` go to `screen` (``criteria``, ``records_events``, ``ignore_columns``). With the
    default ``records_events`` only event types present in this one record count as
    recorded: pass them explicitly when the record is known to be complete.
    """
    row = dict(patient)
    pid = str(row.get("patient_id") or "patient")
    row["patient_id"] = pid
    ev = pd.DataFrame([{**dict(e), "patient_id": pid} for e in events], columns=None)
    ms = pd.DataFrame([{**dict(m), "patient_id": pid} for m in measurements], columns=None)
    cohort = SimpleNamespace(
        patients=pd.DataFrame([row]),
        events=ev if len(ev) else None,
        measurements=ms if len(ms) else None,
    )
    result = screen(cohort, as_of_day=as_of_day, **options)
    pp = result.per_patient.iloc[0]
    det = result.details.iloc[0]
    reasons = []
    for c in result.criteria:
        code = {"failed": FAILED, "not_assessable": NOT_ASSESSABLE}.get(pp[c.id])
        if code is not None:
            reasons.extend(_reason_pieces(c, np.array([code]), np.array([det[c.id]], dtype=object)))
    return {
        "patient_id": pid,
        "status": str(pp["status"]),
        "reasons": [str(r) for r in reasons],
        "criteria": {c.id: str(pp[c.id]) for c in result.criteria},
        "details": {c.id: str(det[c.id]) for c in result.criteria},
        "as_of_day": result.as_of_day,
    }
