"""The eligibility criteria of NCT04674345 as named, vectorised rules.

Every criterion is phrased as a requirement the patient must satisfy, so that for an
exclusion criterion "met" means *the exclusion does not apply* ("no APL": met) and
"failed" means the patient is excluded. Each rule gives every patient one of
met / failed / not assessable; missing data (an absent optional column, an empty cell,
an imputed placeholder, an event type the cohort does not record) is "not assessable",
never "met".

Decisions the trial text leaves open, and how they are made here:

- Hematopoietic recovery within 60 days: met by an ``engraftment`` event on or before
  day 60, or — alternative evidence when there is no such event — by the latest ANC
  >= 0.5 x 10^9/L *and* the latest platelets >= 20 x 10^9/L measured after day 0 and by
  day 60 (the usual neutrophil / platelet engraftment thresholds). It fails only when
  the cohort records engraftment events, the screening day is >= 60, and the patient
  has neither (and was not lost to follow-up before day 60). A cohort without any
  engraftment event does not record recovery: every patient without count evidence is
  then not assessable. Low counts alone never fail the criterion (a single early count
  says little about recovery by day 60).
- Acute leukemia: AML, ALL and MPAL are acute leukemias; MDS is not (it fails), even
  though MDS-derived AML would be coded AML.
- Active acute GVHD within 60 days: the contract has no resolution event, so any
  ``agvhd`` onset of grade >= II (`AGVHD_ACTIVE_MIN_GRADE`) on or before day 60 counts as
  active at screening (conservative: it may exclude someone whose GVHD resolved). Grade I
  (skin only, no systemic treatment) does not exclude. An ``agvhd`` event without a grade
  makes the criterion not assessable; a cohort that records no ``agvhd`` event at all
  makes it not assessable for everyone without one.
- Cardiac dysfunction: LVEF < 50 % (`LVEF_MIN_PCT`, the common lower limit of normal).
- APL: a patient whose diagnosis is ALL, MPAL or MDS cannot have APL (an AML subtype),
  so the criterion is met for them even without an ``apl`` column.
- Ph-positive ALL only concerns ALL: met for any other (known) diagnosis.
- ECOG 3–5 is listed as its own exclusion although ECOG 0–2 (inclusion) implies it.
- ``alive_relapse_free`` is not in the registry text but implied by it (maintenance after
  transplant is for patients alive and in remission at randomization); its ``source``
  is "implied".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from relapse_ml.eligibility._input import (
    FAILED,
    MET,
    NOT_ASSESSABLE,
    ScreeningInput,
    Verdict,
    fmt,
    text_where,
)

SCREENING_WINDOW_DAYS = 60.0  # "within 60 days after transplant" (recovery, aGVHD, infection)
AGVHD_ACTIVE_MIN_GRADE = 2
ANC_RECOVERED = 0.5  # 10^9/L
PLT_RECOVERED = 20.0  # 10^9/L
LVEF_MIN_PCT = 50.0
ACUTE_LEUKEMIA = ("AML", "ALL", "MPAL")
NOT_AML = ("ALL", "MPAL", "MDS")


@dataclass(frozen=True)
class Criterion:
    """One eligibility criterion.

    ``label`` names it in reason texts ("age 18–65: failed (age 71)"); ``needs`` lists the
    contract fields it reads (patient columns, ``events.NAME``, ``measurements.MARKER``);
    ``source`` is "registry" (trial text) or "implied".
    """

    id: str
    kind: str  # "inclusion" | "exclusion"
    label: str
    description: str
    needs: tuple[str, ...]
    rule: Callable[[ScreeningInput], Verdict] = field(repr=False, compare=False)
    source: str = "registry"

    def evaluate(self, data: ScreeningInput) -> Verdict:
        """Apply the rule to every patient of ``data``."""
        verdict = self.rule(data)
        if len(verdict.code) != data.n or len(verdict.detail) != data.n:
            raise ValueError(
                f"criterion {self.id} returned {len(verdict.code)} results for {data.n} patients"
            )
        return verdict


def _verdict(failed: np.ndarray, met: np.ndarray, detail: np.ndarray) -> Verdict:
    """Failed wins over met; neither is not assessable."""
    code = np.where(failed, FAILED, np.where(met, MET, NOT_ASSESSABLE)).astype(np.int8)
    return Verdict(code, detail)


# ---- rule factories ------------------------------------------------------------------
def _numeric(column: str, fails: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """Rule on one numeric column: failed where ``fails(value)``, missing -> not assessable."""

    def rule(d: ScreeningInput) -> Verdict:
        v = d.number(column)
        known = ~np.isnan(v)
        with np.errstate(invalid="ignore"):
            bad = known & fails(v)
        detail = fmt(v, bad, column + " {:g}")
        detail[~known] = d.why_missing(column)
        return _verdict(bad, known & ~bad, detail)

    return rule


def _flag(
    column: str, cannot_apply: Callable[[ScreeningInput], np.ndarray] | None = None
) -> Callable:
    """Rule on one boolean column: true fails, false is met, missing is not assessable.

    ``cannot_apply`` marks patients for whom the condition is impossible (met without the flag).
    """

    def rule(d: ScreeningInput) -> Verdict:
        f = d.flag(column)
        bad = f == 1.0
        met = f == 0.0
        if cannot_apply is not None:
            met |= cannot_apply(d) & ~bad
        detail = text_where(bad, f"{column} true")
        detail[~bad & ~met] = d.why_missing(column)
        return _verdict(bad, met, detail)

    return rule


def _flt3(d: ScreeningInput) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FLT3 status: (negative, mutated, detail for mutated / unknown / missing)."""
    flt3 = d.text("flt3")
    negative = flt3 == "negative"
    mutated = np.isin(flt3, ["itd", "tkd"])
    detail = fmt(flt3, mutated, "flt3 {}")
    unknown = ~negative & ~mutated
    present = pd.notna(flt3)
    detail[unknown & present] = "flt3 unknown"
    detail[unknown & ~present] = d.why_missing_each("flt3")[unknown & ~present]
    return negative, mutated, detail


# ---- criteria that need more than one column ----------------------------------------
def _alive_relapse_free(d: ScreeningInput) -> Verdict:
    relapse = d.first_event_day("relapse")
    death = d.first_event_day("death")
    has_r, has_d = ~np.isnan(relapse), ~np.isnan(death)
    bad = has_r | has_d
    detail = fmt(relapse, has_r, "relapse on day {:g}")
    detail = np.where(~has_r & has_d, fmt(death, has_d, "death on day {:g}"), detail)
    with np.errstate(invalid="ignore"):
        ended = d.followup_ended_day < d.as_of_day
    detail = np.where(
        ~bad & ended, fmt(d.followup_ended_day, ended, "follow-up ended on day {:g}"), detail
    )
    return _verdict(bad, ~bad & ~ended, detail)


def _hematopoietic_recovery(d: ScreeningInput) -> Verdict:
    window = min(SCREENING_WINDOW_DAYS, d.as_of_day)
    engrafted = ~np.isnan(d.first_event_day("engraftment", max_day=window))
    anc = d.latest_measurement("anc", 0.0, window)
    plt = d.latest_measurement("plt", 0.0, window)
    with np.errstate(invalid="ignore"):
        counts_ok = (anc >= ANC_RECOVERED) & (plt >= PLT_RECOVERED)
        ended = d.followup_ended_day < SCREENING_WINDOW_DAYS
    met = engrafted | counts_ok
    window_closed = d.as_of_day >= SCREENING_WINDOW_DAYS
    recorded = "engraftment" in d.records_events
    bad = ~met & recorded & window_closed & ~ended
    detail = text_where(bad, f"no engraftment by day {SCREENING_WINDOW_DAYS:g}")
    unknown = ~met & ~bad
    if not window_closed:
        detail[unknown] = (
            f"not recovered yet on day {d.as_of_day:g} (window runs to day {SCREENING_WINDOW_DAYS:g})"
        )
    else:
        detail[unknown] = "no engraftment event recorded in this cohort"
        lost = unknown & ended
        detail[lost] = fmt(d.followup_ended_day, lost, "follow-up ended on day {:g}")[lost]
    return _verdict(bad, met, detail)


def _acute_leukemia_flt3_negative(d: ScreeningInput) -> Verdict:
    dx = d.text("diagnosis")
    acute = np.isin(dx, ACUTE_LEUKEMIA)
    not_acute = pd.notna(dx) & ~acute
    negative, mutated, flt3_detail = _flt3(d)
    bad = not_acute | mutated
    dx_detail = fmt(dx, not_acute, "diagnosis {}")
    dx_detail[pd.isna(dx)] = d.why_missing_each("diagnosis")[pd.isna(dx)]
    # name every part that failed or is unknown: "diagnosis MDS, flt3 itd"
    parts = np.where(acute, "", dx_detail), np.where(negative, "", flt3_detail)
    detail = np.array(
        [", ".join(p for p in pair if p) for pair in zip(*parts, strict=True)], dtype=object
    )
    if bad.any():  # for a failure, only the failing parts
        fail_parts = np.where(not_acute, dx_detail, ""), np.where(mutated, flt3_detail, "")
        fail_text = np.array(
            [", ".join(p for p in pair if p) for pair in zip(*fail_parts, strict=True)],
            dtype=object,
        )
        detail = np.where(bad, fail_text, detail)
    return _verdict(bad, acute & negative, detail)


def _no_flt3_itd_tkd(d: ScreeningInput) -> Verdict:
    negative, mutated, detail = _flt3(d)
    return _verdict(mutated, negative, detail)


def _no_ph_positive_all(d: ScreeningInput) -> Verdict:
    dx = d.text("diagnosis")
    ph = d.flag("ph_positive")
    is_all = dx == "ALL"
    bad = is_all & (ph == 1.0)
    met = (pd.notna(dx) & ~is_all) | (ph == 0.0)
    detail = text_where(bad, "Ph-positive ALL")
    unknown = ~bad & ~met
    detail[unknown & is_all] = d.why_missing("ph_positive")
    detail[unknown & ~is_all] = d.why_missing_each("diagnosis")[unknown & ~is_all]
    return _verdict(bad, met, detail)


def _no_active_agvhd(d: ScreeningInput) -> Verdict:
    window = min(SCREENING_WINDOW_DAYS, d.as_of_day)
    ev = d.event_rows("agvhd", max_day=window)
    if "grade" in ev:
        grade = pd.to_numeric(ev["grade"], errors="coerce")
    else:
        grade = pd.Series(np.nan, index=ev.index)
    active = ev.assign(grade=grade)[grade >= AGVHD_ACTIVE_MIN_GRADE].sort_values(
        ["row", "day"], kind="stable"
    )
    active = active.groupby("row").first()
    bad = np.zeros(d.n, bool)
    bad[active.index.to_numpy()] = True
    detail = np.full(d.n, "", dtype=object)
    detail[active.index.to_numpy()] = [
        f"aGVHD grade {g:g} on day {day:g}"
        for g, day in zip(active["grade"], active["day"], strict=True)
    ]
    has_event = np.zeros(d.n, bool)
    has_event[ev["row"].to_numpy()] = True
    ungraded = np.zeros(d.n, bool)
    ungraded[ev.loc[grade.isna(), "row"].to_numpy()] = True
    ungraded &= ~bad
    met = ~bad & ~ungraded & (has_event | ("agvhd" in d.records_events))
    detail[ungraded] = "aGVHD grade missing"
    detail[~bad & ~ungraded & ~met] = "no aGVHD events recorded in this cohort"
    return _verdict(bad, met, detail)


def _ast_alt(d: ScreeningInput) -> Verdict:
    ast, alt = d.number("ast_x_uln"), d.number("alt_x_uln")
    with np.errstate(invalid="ignore"):
        ast_bad, alt_bad = ast > 2.0, alt > 2.0
        met = (ast <= 2.0) & (alt <= 2.0)
    bad = ast_bad | alt_bad
    parts = fmt(ast, ast_bad, "ast_x_uln {:g}"), fmt(alt, alt_bad, "alt_x_uln {:g}")
    detail = np.array(
        [", ".join(p for p in pair if p) for pair in zip(*parts, strict=True)], dtype=object
    )
    unknown = ~bad & ~met
    missing = (
        np.where(np.isnan(ast), d.why_missing("ast_x_uln"), ""),
        np.where(np.isnan(alt), d.why_missing("alt_x_uln"), ""),
    )
    for i in np.flatnonzero(unknown):
        detail[i] = ", ".join(p for p in (missing[0][i], missing[1][i]) if p)
    return _verdict(bad, met, detail)


def _not_aml(d: ScreeningInput) -> np.ndarray:
    return np.isin(d.text("diagnosis"), NOT_AML)


CRITERIA: list[Criterion] = [
    Criterion(
        "alive_relapse_free",
        "inclusion",
        "alive and relapse-free on the screening day",
        "No relapse and no death on or before the screening day (implied: maintenance is for "
        "patients alive and in remission at randomization); not assessable when follow-up ended earlier.",
        ("events.relapse", "events.death", "events.last_followup"),
        _alive_relapse_free,
        source="implied",
    ),
    Criterion(
        "inc_age_18_65",
        "inclusion",
        "age 18–65",
        "Age 18 to 65 years inclusive.",
        ("age",),
        _numeric("age", lambda v: (v < 18) | (v > 65)),
    ),
    Criterion(
        "inc_ecog_0_2",
        "inclusion",
        "ECOG 0–2",
        "ECOG performance status 0, 1 or 2.",
        ("ecog",),
        _numeric("ecog", lambda v: (v < 0) | (v > 2)),
    ),
    Criterion(
        "inc_first_allo_hsct",
        "inclusion",
        "first allo-HSCT",
        "This is the patient's first allogeneic transplant (prior_allo_hsct == 0).",
        ("prior_allo_hsct",),
        _numeric("prior_allo_hsct", lambda v: v != 0),
    ),
    Criterion(
        "inc_hematopoietic_recovery",
        "inclusion",
        "hematopoietic recovery by day 60",
        "Engraftment event on or before day 60, or latest ANC >= 0.5 and PLT >= 20 (10^9/L) by day 60; "
        "fails only in a cohort that records engraftment.",
        ("events.engraftment", "measurements.anc", "measurements.plt"),
        _hematopoietic_recovery,
    ),
    Criterion(
        "inc_acute_leukemia_flt3_negative",
        "inclusion",
        "acute leukemia without FLT3 mutation",
        "Diagnosis AML, ALL or MPAL (MDS fails) and flt3 negative (itd/tkd fail, unknown is not assessable).",
        ("diagnosis", "flt3"),
        _acute_leukemia_flt3_negative,
    ),
    Criterion(
        "exc_apl",
        "exclusion",
        "no APL",
        "Not acute promyelocytic leukemia (apl false; met for ALL, MPAL, MDS).",
        ("apl", "diagnosis"),
        _flag("apl", cannot_apply=_not_aml),
    ),
    Criterion(
        "exc_flt3_itd_tkd",
        "exclusion",
        "no FLT3-ITD/TKD",
        "No FLT3-ITD or FLT3-TKD mutation (flt3 negative).",
        ("flt3",),
        _no_flt3_itd_tkd,
    ),
    Criterion(
        "exc_ph_positive_all",
        "exclusion",
        "no Ph-positive ALL",
        "Not Philadelphia-positive ALL (ph_positive true with diagnosis ALL fails; other diagnoses are met).",
        ("diagnosis", "ph_positive"),
        _no_ph_positive_all,
    ),
    Criterion(
        "exc_cml_blast_crisis",
        "exclusion",
        "no CML in blast crisis",
        "Not CML in blast crisis.",
        ("cml_blast_crisis",),
        _flag("cml_blast_crisis"),
    ),
    Criterion(
        "exc_sorafenib_intolerance",
        "exclusion",
        "no sorafenib intolerance",
        "No known intolerance of sorafenib.",
        ("sorafenib_intolerance",),
        _flag("sorafenib_intolerance"),
    ),
    Criterion(
        "exc_life_expectancy_30d",
        "exclusion",
        "life expectancy ≥ 30 days",
        "Life expectancy of at least 30 days.",
        ("life_expectancy_days",),
        _numeric("life_expectancy_days", lambda v: v < 30),
    ),
    Criterion(
        "exc_active_agvhd",
        "exclusion",
        "no active aGVHD (grade ≥ II) by day 60",
        "No acute GVHD of grade >= II with onset on or before day 60 (no resolution event in the "
        "contract: any such onset counts as active).",
        ("events.agvhd",),
        _no_active_agvhd,
    ),
    Criterion(
        "exc_uncontrolled_infection",
        "exclusion",
        "no uncontrolled infection by day 60",
        "No uncontrolled infection within 60 days after transplant.",
        ("uncontrolled_infection",),
        _flag("uncontrolled_infection"),
    ),
    Criterion(
        "exc_cardiac_dysfunction",
        "exclusion",
        "LVEF ≥ 50%",
        "No cardiac dysfunction: LVEF of at least 50 %.",
        ("lvef_pct",),
        _numeric("lvef_pct", lambda v: v < LVEF_MIN_PCT),
    ),
    Criterion(
        "exc_pao2_60",
        "exclusion",
        "PaO2 > 60 mmHg",
        "PaO2 above 60 mmHg (<= 60 fails).",
        ("pao2_mmhg",),
        _numeric("pao2_mmhg", lambda v: v <= 60),
    ),
    Criterion(
        "exc_bilirubin_3",
        "exclusion",
        "bilirubin < 3 mg/dL",
        "Total bilirubin below 3 mg/dL (>= 3 fails).",
        ("bilirubin_mg_dl",),
        _numeric("bilirubin_mg_dl", lambda v: v >= 3),
    ),
    Criterion(
        "exc_ast_alt_2x_uln",
        "exclusion",
        "AST and ALT ≤ 2× ULN",
        "AST and ALT at most twice the upper limit of normal (either above fails).",
        ("ast_x_uln", "alt_x_uln"),
        _ast_alt,
    ),
    Criterion(
        "exc_crcl_30",
        "exclusion",
        "CrCl ≥ 30 mL/min",
        "Creatinine clearance of at least 30 mL/min.",
        ("crcl_ml_min",),
        _numeric("crcl_ml_min", lambda v: v < 30),
    ),
    Criterion(
        "exc_ecog_3_5",
        "exclusion",
        "ECOG not 3–5",
        "ECOG performance status not 3, 4 or 5.",
        ("ecog",),
        _numeric("ecog", lambda v: v >= 3),
    ),
]

CRITERIA_BY_ID: dict[str, Criterion] = {c.id: c for c in CRITERIA}
