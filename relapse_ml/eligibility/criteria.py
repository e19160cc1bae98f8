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

from relapse_ml.eligibility._input import (
    ScreeningInput,
    Verdict,
)
from relapse_ml.eligibility.rules import (
    LVEF_MIN_PCT,
    acute_leukemia_flt3_negative,
    alive_relapse_free,
    ast_alt,
    flag,
    hematopoietic_recovery,
    no_active_agvhd,
    no_flt3_itd_tkd,
    no_ph_positive_all,
    not_aml,
    numeric,
)


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


CRITERIA: list[Criterion] = [
    Criterion(
        "alive_relapse_free",
        "inclusion",
        "alive and relapse-free on the screening day",
        "No relapse and no death on or before the screening day (implied: maintenance is for "
        "patients alive and in remission at randomization); not assessable when follow-up ended earlier.",
        ("events.relapse", "events.death", "events.last_followup"),
        alive_relapse_free,
        source="implied",
    ),
    Criterion(
        "inc_age_18_65",
        "inclusion",
        "age 18–65",
        "Age 18 to 65 years inclusive.",
        ("age",),
        numeric("age", lambda v: (v < 18) | (v > 65)),
    ),
    Criterion(
        "inc_ecog_0_2",
        "inclusion",
        "ECOG 0–2",
        "ECOG performance status 0, 1 or 2.",
        ("ecog",),
        numeric("ecog", lambda v: (v < 0) | (v > 2)),
    ),
    Criterion(
        "inc_first_allo_hsct",
        "inclusion",
        "first allo-HSCT",
        "This is the patient's first allogeneic transplant (prior_allo_hsct == 0).",
        ("prior_allo_hsct",),
        numeric("prior_allo_hsct", lambda v: v != 0),
    ),
    Criterion(
        "inc_hematopoietic_recovery",
        "inclusion",
        "hematopoietic recovery by day 60",
        "Engraftment event on or before day 60, or latest ANC >= 0.5 and PLT >= 20 (10^9/L) by day 60; "
        "fails only in a cohort that records engraftment.",
        ("events.engraftment", "measurements.anc", "measurements.plt"),
        hematopoietic_recovery,
    ),
    Criterion(
        "inc_acute_leukemia_flt3_negative",
        "inclusion",
        "acute leukemia without FLT3 mutation",
        "Diagnosis AML, ALL or MPAL (MDS fails) and flt3 negative (itd/tkd fail, unknown is not assessable).",
        ("diagnosis", "flt3"),
        acute_leukemia_flt3_negative,
    ),
    Criterion(
        "exc_apl",
        "exclusion",
        "no APL",
        "Not acute promyelocytic leukemia (apl false; met for ALL, MPAL, MDS).",
        ("apl", "diagnosis"),
        flag("apl", cannot_apply=not_aml),
    ),
    Criterion(
        "exc_flt3_itd_tkd",
        "exclusion",
        "no FLT3-ITD/TKD",
        "No FLT3-ITD or FLT3-TKD mutation (flt3 negative).",
        ("flt3",),
        no_flt3_itd_tkd,
    ),
    Criterion(
        "exc_ph_positive_all",
        "exclusion",
        "no Ph-positive ALL",
        "Not Philadelphia-positive ALL (ph_positive true with diagnosis ALL fails; other diagnoses are met).",
        ("diagnosis", "ph_positive"),
        no_ph_positive_all,
    ),
    Criterion(
        "exc_cml_blast_crisis",
        "exclusion",
        "no CML in blast crisis",
        "Not CML in blast crisis.",
        ("cml_blast_crisis",),
        flag("cml_blast_crisis"),
    ),
    Criterion(
        "exc_sorafenib_intolerance",
        "exclusion",
        "no sorafenib intolerance",
        "No known intolerance of sorafenib.",
        ("sorafenib_intolerance",),
        flag("sorafenib_intolerance"),
    ),
    Criterion(
        "exc_life_expectancy_30d",
        "exclusion",
        "life expectancy ≥ 30 days",
        "Life expectancy of at least 30 days.",
        ("life_expectancy_days",),
        numeric("life_expectancy_days", lambda v: v < 30),
    ),
    Criterion(
        "exc_active_agvhd",
        "exclusion",
        "no active aGVHD (grade ≥ II) by day 60",
        "No acute GVHD of grade >= II with onset on or before day 60 (no resolution event in the "
        "contract: any such onset counts as active).",
        ("events.agvhd",),
        no_active_agvhd,
    ),
    Criterion(
        "exc_uncontrolled_infection",
        "exclusion",
        "no uncontrolled infection by day 60",
        "No uncontrolled infection within 60 days after transplant.",
        ("uncontrolled_infection",),
        flag("uncontrolled_infection"),
    ),
    Criterion(
        "exc_cardiac_dysfunction",
        "exclusion",
        "LVEF ≥ 50%",
        "No cardiac dysfunction: LVEF of at least 50 %.",
        ("lvef_pct",),
        numeric("lvef_pct", lambda v: v < LVEF_MIN_PCT),
    ),
    Criterion(
        "exc_pao2_60",
        "exclusion",
        "PaO2 > 60 mmHg",
        "PaO2 above 60 mmHg (<= 60 fails).",
        ("pao2_mmhg",),
        numeric("pao2_mmhg", lambda v: v <= 60),
    ),
    Criterion(
        "exc_bilirubin_3",
        "exclusion",
        "bilirubin < 3 mg/dL",
        "Total bilirubin below 3 mg/dL (>= 3 fails).",
        ("bilirubin_mg_dl",),
        numeric("bilirubin_mg_dl", lambda v: v >= 3),
    ),
    Criterion(
        "exc_ast_alt_2x_uln",
        "exclusion",
        "AST and ALT ≤ 2× ULN",
        "AST and ALT at most twice the upper limit of normal (either above fails).",
        ("ast_x_uln", "alt_x_uln"),
        ast_alt,
    ),
    Criterion(
        "exc_crcl_30",
        "exclusion",
        "CrCl ≥ 30 mL/min",
        "Creatinine clearance of at least 30 mL/min.",
        ("crcl_ml_min",),
        numeric("crcl_ml_min", lambda v: v < 30),
    ),
    Criterion(
        "exc_ecog_3_5",
        "exclusion",
        "ECOG not 3–5",
        "ECOG performance status not 3, 4 or 5.",
        ("ecog",),
        numeric("ecog", lambda v: v >= 3),
    ),
]

CRITERIA_BY_ID: dict[str, Criterion] = {c.id: c for c in CRITERIA}
