"""Patient-level covariates known at transplant, and the cohort's declared extra columns.

Categories are coded against the contract's FIXED levels (reference coding: one 0/1
column per non-reference level), so the columns never depend on which values a cohort
happens to contain. A value outside the levels, or an empty one, gives NaN columns.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from relapse_ml.data.contract import PATIENT_CATEGORIES
from relapse_ml.features.context import FeatureContext

BASELINE_CATEGORIES = (
    "sex",
    "diagnosis",
    "disease_status",
    "cytogenetic_risk",
    "pre_hsct_mrd",
    "donor_type",
    "conditioning",
)
# the level every other level is compared with; the contract's first level unless named here
REFERENCE = {"pre_hsct_mrd": "negative"}


_BOOL_WORDS = {"true": 1.0, "t": 1.0, "yes": 1.0, "y": 1.0, "1": 1.0, "1.0": 1.0,
               "false": 0.0, "f": 0.0, "no": 0.0, "n": 0.0, "0": 0.0, "0.0": 0.0}  # fmt: skip


def level_name(level: object) -> str:
    """A column-safe spelling of a category level (``CR3+`` -> ``CR3plus``)."""
    text = str(level).strip().replace("+", "plus")
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_") or "blank"


def one_hot(values: pd.Series, column: str, levels, reference) -> dict[str, np.ndarray]:
    """0/1 columns ``{column}_{level}`` for each level but ``reference``; NaN outside ``levels``."""
    v = values.astype(object).where(values.notna(), None).to_numpy()
    known = pd.Series(v).isin(list(levels)).to_numpy()
    out = {}
    for level in levels:
        if level == reference:
            continue
        out[f"{column}_{level_name(level)}"] = np.where(known, (v == level).astype(float), np.nan)
    return out


def _number(ctx: FeatureContext, column: str) -> np.ndarray:
    if column not in ctx.patients:
        return np.full(ctx.n_patients, np.nan)
    return pd.to_numeric(ctx.patients[column], errors="coerce").to_numpy(dtype=float)


def baseline(ctx: FeatureContext) -> pd.DataFrame:
    """Age, ECOG, HCT-CI (+ ``hct_ci_missing``) and the contract's categories, reference-coded.

    Categories: sex, diagnosis, disease status at transplant, cytogenetic risk,
    pre-transplant MRD, donor type and conditioning.
    """
    p = ctx.patients
    cols: dict[str, np.ndarray] = {"age": _number(ctx, "age"), "ecog": _number(ctx, "ecog")}
    hct_ci = _number(ctx, "hct_ci")
    cols["hct_ci"] = hct_ci
    cols["hct_ci_missing"] = np.isnan(hct_ci).astype(float)
    for name in BASELINE_CATEGORIES:
        levels = PATIENT_CATEGORIES[name]
        values = p[name] if name in p else pd.Series(np.nan, index=p.index)
        cols.update(one_hot(values, name, levels, REFERENCE.get(name, levels[0])))
    return ctx.frame(cols)


def _as_bool(values: pd.Series) -> np.ndarray:
    """0/1 from bools, 0/1 numbers or true/false words; NaN when empty or unreadable."""
    text = values.astype(object).where(values.notna(), None).astype(str).str.strip().str.lower()
    return text.map(_BOOL_WORDS).to_numpy(dtype=float)


def extra(ctx: FeatureContext) -> pd.DataFrame:
    """The cohort's declared extra columns: numbers as-is, bools 0/1, strings one-hot.

    Columns are named ``extra_{column}`` (``extra_{column}_{level}`` for strings). Extra
    columns carry no contract levels, so a string column gets one 0/1 column per level
    seen in this cohort, sorted; models must reindex a new cohort to their training
    columns. An empty value gives NaN. The data must be known by the landmark.
    """
    p = ctx.patients
    cols: dict[str, np.ndarray] = {}
    for name, kind in sorted(ctx.extra_columns.items()):
        values = p[name] if name in p else pd.Series(np.nan, index=p.index, dtype=object)
        if kind == "number":
            cols[f"extra_{name}"] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        elif kind == "bool":
            cols[f"extra_{name}"] = _as_bool(values)
        else:
            text = values.astype(object).where(values.notna(), None)
            text = text.where(text.isna(), text.astype(str).str.strip())
            levels = sorted(set(text.dropna()) - {""})
            cols.update(one_hot(text, f"extra_{name}", levels, reference=None))
    return ctx.frame(cols)
