"""The rules behind the eligibility criteria (`criteria.py` names them and says why).

Each rule takes a `ScreeningInput` and gives every patient met / failed / not assessable
with a detail text; the thresholds below are the trial's (or, where it is silent, the
usual clinical ones — see `criteria.py`).
"""

from __future__ import annotations

from collections.abc import Callable

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


def verdict(failed: np.ndarray, met: np.ndarray, detail: np.ndarray) -> Verdict:
    """Failed wins over met; neither is not assessable."""
    code = np.where(failed, FAILED, np.where(met, MET, NOT_ASSESSABLE)).astype(np.int8)
    return Verdict(code, detail)


# ---- rule factories ------------------------------------------------------------------
def numeric(column: str, fails: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """Rule on one numeric column: failed where ``fails(value)``, missing -> not assessable."""

    def rule(d: ScreeningInput) -> Verdict:
        v = d.number(column)
        known = ~np.isnan(v)
        with np.errstate(invalid="ignore"):
            bad = known & fails(v)
        detail = fmt(v, bad, column + " {:g}")
        detail[~known] = d.why_missing(column)
        return verdict(bad, known & ~bad, detail)

    return rule


def flag(
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
        return verdict(bad, met, detail)

    return rule


def flt3(d: ScreeningInput) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
def alive_relapse_free(d: ScreeningInput) -> Verdict:
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
    return verdict(bad, ~bad & ~ended, detail)


def hematopoietic_recovery(d: ScreeningInput) -> Verdict:
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
    return verdict(bad, met, detail)


def acute_leukemia_flt3_negative(d: ScreeningInput) -> Verdict:
    dx = d.text("diagnosis")
    acute = np.isin(dx, ACUTE_LEUKEMIA)
    not_acute = pd.notna(dx) & ~acute
    negative, mutated, flt3_detail = flt3(d)
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
    return verdict(bad, acute & negative, detail)


def no_flt3_itd_tkd(d: ScreeningInput) -> Verdict:
    negative, mutated, detail = flt3(d)
    return verdict(mutated, negative, detail)


def no_ph_positive_all(d: ScreeningInput) -> Verdict:
    dx = d.text("diagnosis")
    ph = d.flag("ph_positive")
    is_all = dx == "ALL"
    bad = is_all & (ph == 1.0)
    met = (pd.notna(dx) & ~is_all) | (ph == 0.0)
    detail = text_where(bad, "Ph-positive ALL")
    unknown = ~bad & ~met
    detail[unknown & is_all] = d.why_missing("ph_positive")
    detail[unknown & ~is_all] = d.why_missing_each("diagnosis")[unknown & ~is_all]
    return verdict(bad, met, detail)


def no_active_agvhd(d: ScreeningInput) -> Verdict:
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
    return verdict(bad, met, detail)


def ast_alt(d: ScreeningInput) -> Verdict:
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
    return verdict(bad, met, detail)


def not_aml(d: ScreeningInput) -> np.ndarray:
    return np.isin(d.text("diagnosis"), NOT_AML)
