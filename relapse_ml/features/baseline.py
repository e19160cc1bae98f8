"""Patient-level covariates known at transplant, and the cohort's declared extra columns.

Categories are coded against the contract's FIXED levels (reference coding: one 0/1
column per non-reference level), so the columns never depend on which values a cohort
happens to contain. ``unknown`` (contract v2), an empty value or one outside the levels is
missing information: NaN in the level columns, and for the categories where "not tested" is
common (cytogenetics, FLT3, pre-transplant MRD) a ``{column}_unknown`` 0/1 indicator. A
column the cohort declares unknown for every patient (cohort.json ``unknown_columns``, or a
public data set's placeholder in ``imputed_columns``) gives no columns at all: a placeholder
never becomes a feature.

Declared extra string columns have no contract levels: they are coded one 0/1 column per
level seen (`extra`), and `training_columns` removes the reference level (the most
frequent, ties by name) from a training matrix; `category_levels` gives those training levels
(to be stored with a model, so that scoring can tell an unseen level from the reference).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from relapse_ml.data.contract import PATIENT_CATEGORIES, UNKNOWN
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
# categories whose ``unknown`` gets its own indicator column (commonly not tested, informative)
UNKNOWN_INDICATOR = ("cytogenetic_risk", "flt3", "pre_hsct_mrd")


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

    Categories: sex, diagnosis, disease status at transplant, cytogenetic risk (+ ``_unknown``),
    pre-transplant MRD (+ ``_unknown``), donor type and conditioning. Columns the cohort
    records as unknown for everyone are left out.
    """
    p = ctx.patients
    skip = set(ctx.unknown_columns)
    cols: dict[str, np.ndarray] = {}
    for name in ("age", "ecog", "hct_ci"):
        if name not in skip:
            cols[name] = _number(ctx, name)
    if "hct_ci" not in skip:
        cols["hct_ci_missing"] = np.isnan(cols["hct_ci"]).astype(float)
    for name in BASELINE_CATEGORIES:
        if name in skip:
            continue
        levels = tuple(v for v in PATIENT_CATEGORIES[name] if v != UNKNOWN)
        values = p[name] if name in p else pd.Series(np.nan, index=p.index)
        cols.update(one_hot(values, name, levels, REFERENCE.get(name, levels[0])))
        if name in UNKNOWN_INDICATOR:
            known = values.astype(object).isin(list(levels)).to_numpy()
            cols[f"{name}_unknown"] = (~known).astype(float)
    return ctx.frame(cols)


def _as_bool(values: pd.Series) -> np.ndarray:
    """0/1 from bools, 0/1 numbers or true/false words; NaN when empty or unreadable."""
    text = values.astype(object).where(values.notna(), None).astype(str).str.strip().str.lower()
    return text.map(_BOOL_WORDS).to_numpy(dtype=float)


def extra(ctx: FeatureContext) -> pd.DataFrame:
    """The cohort's declared extra columns: numbers as-is, bools 0/1, strings one-hot.

    Columns are named ``extra_{column}`` (``extra_{column}_{level}`` for strings). Extra
    columns carry no contract levels, so a string column gets one 0/1 column per level
    seen in this cohort, sorted; a training matrix drops the reference level
    (`training_columns`) and models reindex a new cohort to their training columns.
    An empty value or ``unknown`` gives NaN. The data must be known by the landmark.
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
            levels = sorted(set(text.dropna()) - {"", UNKNOWN})
            cols.update(one_hot(text, f"extra_{name}", levels, reference=None))
    return ctx.frame(cols)


def string_levels(patients: pd.DataFrame, extra_columns: dict[str, str]) -> dict[str, list[str]]:
    """Levels of each declared extra string column, the reference (most frequent, ties by
    name) first, then the others sorted: what a model trained on ``patients`` knows."""
    out = {}
    for name, kind in sorted(extra_columns.items()):
        if kind != "string" or name not in patients:
            continue
        text = patients[name].dropna().astype(str).str.strip()
        counts = text[~text.isin(["", UNKNOWN])].value_counts()
        if counts.empty:
            continue
        ranked = sorted(counts.index, key=lambda v: (-counts[v], v))
        out[name] = [ranked[0], *sorted(ranked[1:])]
    return out


def category_levels(cohort) -> dict[str, list[str]]:
    """The training levels of a cohort's extra string columns (reference first); store with a model."""
    return string_levels(cohort.patients, dict(getattr(cohort, "extra_columns", {}) or {}))


def patient_level_columns(columns, cohort) -> list[str]:
    """The columns of ``columns`` that `baseline` and `extra` make (one value per patient, any L)."""
    fixed = ("age", "ecog", "hct_ci", "hct_ci_missing")
    prefixes = tuple(f"{c}_" for c in BASELINE_CATEGORIES)
    extras = {f"extra_{c}" for c in (getattr(cohort, "extra_columns", {}) or {})}
    out = []
    for c in columns:
        if c in fixed or c in extras or c.startswith(prefixes):
            out.append(c)
        elif any(c.startswith(f"{e}_") for e in extras):
            out.append(c)  # a level of an extra string column
    return out


def training_columns(X: pd.DataFrame, cohort) -> pd.DataFrame:
    """A training matrix: ``X`` without reference levels and without constant patient columns.

    - Extra string columns: the reference level's column is dropped (one 0/1 column per level
      beside the model's baseline hazard is collinear); scoring reindexes to the model's
      columns, so a record at the reference level gets zeros everywhere.
    - Baseline and extra columns that are constant (or empty) over the whole cohort carry no
      information here (a registry's design constant such as one conditioning for all):
      dropped. They do not depend on L, so every landmark of a stacked data set drops the same.
    """
    drop = [f"extra_{name}_{level_name(levels[0])}" for name, levels in category_levels(cohort).items()
            if len(levels) > 1]
    X = X.drop(columns=[c for c in drop if c in X.columns])
    const = [c for c in patient_level_columns(X.columns, cohort) if X[c].nunique(dropna=True) <= 1
             and not (X[c].isna().any() and X[c].notna().any())]
    return X.drop(columns=const)


def unseen_levels(patients: pd.DataFrame, levels: dict[str, list[str]]) -> pd.DataFrame:
    """Per patient and extra string column: True where the value is known but no training level.

    ``levels`` is `category_levels` of the training cohort. Such a patient is scored as the
    reference level (all level columns 0): a warning, not a missing value.
    """
    out = pd.DataFrame(False, index=patients.index, columns=list(levels))
    for name, known in levels.items():
        if name not in patients:
            continue
        text = patients[name].astype(object).where(patients[name].notna(), None)
        text = text.map(lambda v: None if v is None else str(v).strip())
        out[name] = text.notna().to_numpy() & ~text.isin(["", UNKNOWN, *known]).to_numpy()
    return out
