"""Subgroup analyses: pre-specified subgroups, and exploratory ones found and tested on
separate halves of the trial.

Per subgroup level: patients and events by arm; the Aalen–Johansen incidence at τ by arm
and its difference (control − sorafenib) with a jackknife 95% interval; the hazard ratio
of sorafenib vs control from a Cox model within the level. Per subgroup: the Wald test of
the arm × subgroup terms of a Cox model with arm, subgroup and their product, then Holm
and Benjamini–Hochberg across subgroups.

For relapse the hazard is cause-specific: non-relapse death censors it in the Cox model
(right for a cause-specific hazard ratio), while absolute risks always come from the
Aalen–Johansen estimator, never from 1 − Kaplan–Meier. For relapse or death (``rfs``) the
event is either, and there is no competing risk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from relapse_ml.benefit.arm_stats import (
    arm_hazard_ratio,
    benjamini_hochberg,
    holm,
    incidence_by_arm,
    interaction_test,
    outcome_for,
)


# -- subgroup definitions -------------------------------------------------------------------
@dataclass(frozen=True)
class Subgroup:
    """A named subgroup: what it is, and its level per patient (NaN: not classifiable)."""

    name: str
    description: str
    levels: Callable[[pd.DataFrame], pd.Series]
    order: tuple[str, ...]


def _map(values: pd.Series, mapping: dict) -> pd.Series:
    return values.map(mapping).astype(object)


def _binary(column: str, yes: str, no: str, test=lambda v: v > 0):
    def levels(frame: pd.DataFrame) -> pd.Series:
        v = frame[column]
        return pd.Series(
            np.where(v.isna(), None, np.where(test(v), yes, no)), index=frame.index, dtype=object
        )

    return levels


def _age_band(frame: pd.DataFrame) -> pd.Series:
    age = frame["age"]
    band = np.where(age < 40, "age <40", np.where(age < 55, "age 40-54", "age >=55"))
    return pd.Series(np.where(age.isna(), None, band), index=frame.index, dtype=object)


SUBGROUPS: dict[str, Subgroup] = {
    s.name: s
    for s in (
        Subgroup(
            "mrd_detectable",
            "MFC-MRD detectable (> 0 %) in the latest sample by the landmark",
            _binary("mrd_mfc_latest", "MRD detectable", "MRD undetectable"),
            ("MRD undetectable", "MRD detectable"),
        ),
        Subgroup(
            "chimerism",
            "mixed (< 95 % donor) vs full chimerism in the latest sample",
            _binary("chimerism_mixed", "mixed chimerism", "full chimerism"),
            ("full chimerism", "mixed chimerism"),
        ),
        Subgroup(
            "agvhd_by_landmark",
            "any acute GVHD recorded by the landmark",
            _binary("agvhd_max_grade", "aGVHD by landmark", "no aGVHD"),
            ("no aGVHD", "aGVHD by landmark"),
        ),
        Subgroup(
            "disease_status",
            "disease status at transplant",
            lambda f: _map(
                f["disease_status"],
                {"CR1": "CR1", "CR2": "CR2+ or NR", "CR3+": "CR2+ or NR", "NR": "CR2+ or NR"},
            ),
            ("CR1", "CR2+ or NR"),
        ),
        Subgroup(
            "cytogenetic_risk",
            "cytogenetic risk (unknown left out)",
            lambda f: _map(
                f["cytogenetic_risk"], {k: k for k in ("favorable", "intermediate", "adverse")}
            ),
            ("favorable", "intermediate", "adverse"),
        ),
        Subgroup(
            "donor_type",
            "donor type (cord and other pooled)",
            lambda f: _map(
                f["donor_type"],
                {
                    "MSD": "MSD",
                    "MUD": "MUD",
                    "haplo": "haplo",
                    "cord": "cord/other",
                    "other": "cord/other",
                },
            ),
            ("MSD", "MUD", "haplo", "cord/other"),
        ),
        Subgroup(
            "conditioning",
            "conditioning intensity",
            lambda f: _map(f["conditioning"], {"MAC": "MAC", "RIC": "RIC"}),
            ("MAC", "RIC"),
        ),
        Subgroup("age_band", "age at transplant", _age_band, ("age <40", "age 40-54", "age >=55")),
        Subgroup(
            "hct_ci",
            "HCT comorbidity index 0-2 vs >= 3",
            _binary("hct_ci", "HCT-CI >=3", "HCT-CI 0-2", lambda v: v >= 3),
            ("HCT-CI 0-2", "HCT-CI >=3"),
        ),
        Subgroup(
            "diagnosis",
            "diagnosis",
            lambda f: _map(
                f["diagnosis"], {"AML": "AML", "ALL": "ALL", "MPAL": "MPAL/MDS", "MDS": "MPAL/MDS"}
            ),
            ("AML", "ALL", "MPAL/MDS"),
        ),
    )
}
SUBGROUP_FEATURES = ("mrd_mfc_latest", "chimerism_mixed", "agvhd_max_grade")
PATIENT_COLUMNS = (
    "age",
    "hct_ci",
    "disease_status",
    "cytogenetic_risk",
    "donor_type",
    "conditioning",
    "diagnosis",
)


def subgroup_frame(cohort, patient_id, landmark_day: float) -> pd.DataFrame:
    """Landmark features and baseline columns the subgroups are defined on, one row per
    ``patient_id`` (in that order, 0..n-1 index); data after the landmark is never read."""
    from relapse_ml.features import build_features

    ids = pd.Index(np.asarray(patient_id).astype(str))
    feats = build_features(cohort, landmark_day, list(SUBGROUP_FEATURES))
    feats = feats.reindex(ids)
    patients = cohort.patients.assign(patient_id=cohort.patients["patient_id"].astype(str))
    patients = patients.set_index("patient_id").reindex(ids)
    frame = feats[
        [c for c in feats.columns if c in ("mrd_mfc_latest", "chimerism_mixed", "agvhd_max_grade")]
    ].copy()
    for col in PATIENT_COLUMNS:
        values = patients[col] if col in patients else pd.Series(np.nan, index=ids)
        frame[col] = (
            pd.to_numeric(values, errors="coerce")
            if col in ("age", "hct_ci")
            else values.astype(object)
        )
    return frame.reset_index(drop=True)


def subgroup_levels(frame: pd.DataFrame, names) -> dict[str, pd.Series]:
    """``{name: level per patient}`` for the named subgroups."""
    return {n: SUBGROUPS[n].levels(frame).reset_index(drop=True) for n in names}


def configured_levels(cohort, patient_id, cfg) -> dict[str, pd.Series]:
    """`subgroup_levels` of a `BenefitConfig`'s pre-specified subgroups at its landmark."""
    frame = subgroup_frame(cohort, patient_id, cfg.landmark.landmark_day)
    return subgroup_levels(frame, cfg.subgroups.names)


# -- the subgroup table ---------------------------------------------------------------------
def interaction_pvalues(
    time, event, arm, levels: dict[str, pd.Series], outcome: str = "relapse"
) -> dict[str, float]:
    """Only the interaction p-value per subgroup (what a multiplicity correction needs)."""
    ev = outcome_for(event, outcome)
    return {
        name: interaction_test(np.asarray(time, float), ev, np.asarray(arm).astype(int), level)["p"]
        for name, level in levels.items()
    }


def subgroup_table(
    time,
    event,
    arm,
    levels: dict[str, pd.Series],
    tau: float,
    outcome: str = "relapse",
    min_per_arm: int = 20,
    min_events: int = 10,
) -> pd.DataFrame:
    """One row per subgroup level (module docstring), with the subgroup's interaction test
    and its Holm / BH adjusted p-values repeated on its rows."""
    time = np.asarray(time, float)
    ev = outcome_for(event, outcome)
    arm = np.asarray(arm).astype(int)
    rows, pvals = [], {}
    for name, level in levels.items():
        test = interaction_test(time, ev, arm, level)
        pvals[name] = test["p"]
        present = set(level.dropna().astype(str))
        order = (
            [c for c in SUBGROUPS[name].order if c in present]
            if name in SUBGROUPS
            else sorted(present)
        )
        for lvl in order + sorted(present - set(order)):
            m = (level.astype(str) == lvl).to_numpy() & level.notna().to_numpy()
            n0, n1 = int((m & (arm == 0)).sum()), int((m & (arm == 1)).sum())
            e0 = int((m & (arm == 0) & (ev == 1) & (time <= tau)).sum())
            e1 = int((m & (arm == 1) & (ev == 1) & (time <= tau)).sum())
            row = {
                "outcome": outcome,
                "subgroup": name,
                "level": lvl,
                "n": int(m.sum()),
                "n_control": n0,
                "n_sorafenib": n1,
                "events_control": e0,
                "events_sorafenib": e1,
            }
            if n0 and n1:
                row.update(incidence_by_arm(time[m], ev[m], arm[m], tau))
                row.update(arm_hazard_ratio(time[m], ev[m], arm[m]))
            warn = []
            if min(n0, n1) < min_per_arm:
                warn.append(f"fewer than {min_per_arm} patients in an arm")
            if e0 + e1 < min_events:
                warn.append(f"fewer than {min_events} events")
            row["small"] = bool(warn)
            row["warning"] = ("too small to say anything: " + " and ".join(warn)) if warn else ""
            row.update(
                {
                    "interaction_chi2": test["chi2"],
                    "interaction_df": test["df"],
                    "interaction_p": test["p"],
                }
            )
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    names = list(pvals)
    p = np.array([pvals[n] for n in names], float)
    adj_holm = dict(zip(names, holm(p), strict=True))
    adj_bh = dict(zip(names, benjamini_hochberg(p), strict=True))
    table["p_holm"] = table["subgroup"].map(adj_holm)
    table["p_bh"] = table["subgroup"].map(adj_bh)
    return table


def overall_row(time, event, arm, tau: float, outcome: str = "relapse") -> dict:
    """The whole cohort's row (for the top of a forest plot)."""
    time = np.asarray(time, float)
    ev = outcome_for(event, outcome)
    arm = np.asarray(arm).astype(int)
    row = {
        "outcome": outcome,
        "subgroup": "all",
        "level": "all patients",
        "n": int(arm.size),
        "n_control": int((arm == 0).sum()),
        "n_sorafenib": int((arm == 1).sum()),
        "events_control": int(((arm == 0) & (ev == 1) & (time <= tau)).sum()),
        "events_sorafenib": int(((arm == 1) & (ev == 1) & (time <= tau)).sum()),
    }
    row.update(incidence_by_arm(time, ev, arm, tau))
    row.update(arm_hazard_ratio(time, ev, arm))
    return row


# -- exploratory discovery ------------------------------------------------------------------
def split_halves(arm, event, seed: int) -> np.ndarray:
    """Boolean mask of the discovery half, stratified by arm × event code."""
    from relapse_ml.benefit.folds import make_folds

    return make_folds(arm, event, 2, seed) == 0


def tree_rules(tree, columns, with_missing=()) -> dict[int, str]:
    """The conjunction of splits leading to each leaf of a fitted sklearn tree.

    with_missing: columns that have missing values (the rule says where those go).
    """
    t = tree.tree_
    rules: dict[int, str] = {}

    def walk(node: int, conds: list[str]) -> None:
        if t.children_left[node] == -1:
            rules[node] = " and ".join(conds) or "everyone"
            return
        name, thr = columns[t.feature[node]], t.threshold[node]
        # sklearn sends a missing value to the side chosen at fit (missing_go_to_left)
        nan_left = bool(t.missing_go_to_left[node])
        left, right = f"{name} <= {thr:.4g}", f"{name} > {thr:.4g}"
        if name in with_missing:
            if nan_left:
                left += " (or missing)"
            else:
                right += " (or missing)"
        walk(t.children_left[node], conds + [left])
        walk(t.children_right[node], conds + [right])

    walk(0, [])
    return rules


def exploratory_subgroups(
    X: pd.DataFrame,
    time,
    event,
    arm,
    tau: float,
    discovery: np.ndarray,
    benefit_discovery: np.ndarray,
    max_depth: int = 2,
    min_leaf_fraction: float = 0.15,
    outcome: str = "relapse",
    seed: int = 0,
) -> dict:
    """Leaves of a shallow regression tree on the discovery half's benefit estimates, each
    tested on the other half (arm × leaf interaction, Holm across leaves).

    benefit_discovery: cross-fitted estimates for the ``discovery`` rows, computed from the
    discovery half alone (so the test half's outcomes never shaped the leaves). The leaf
    with the largest mean estimate is the single pre-declared candidate: its test-half p
    needs no correction.
    """
    from sklearn.tree import DecisionTreeRegressor

    time = np.asarray(time, float)
    arm = np.asarray(arm).astype(int)
    ev = outcome_for(event, outcome)
    XA, XB = X.loc[discovery], X.loc[~discovery]
    min_leaf = max(5, int(np.ceil(min_leaf_fraction * len(XA))))
    tree = DecisionTreeRegressor(
        max_depth=max_depth, min_samples_leaf=min_leaf, random_state=seed
    ).fit(XA, benefit_discovery)
    rules = tree_rules(tree, list(X.columns), set(X.columns[X.isna().any()]))
    leaf_A, leaf_B = tree.apply(XA), tree.apply(XB)
    tB, eB, aB = time[~discovery], ev[~discovery], arm[~discovery]
    rows = []
    for leaf, rule in rules.items():
        inB = leaf_B == leaf
        row = {
            "leaf": int(leaf),
            "rule": rule,
            "n_discovery": int((leaf_A == leaf).sum()),
            "mean_estimate_discovery": float(np.mean(benefit_discovery[leaf_A == leaf])),
            "n_test": int(inB.sum()),
            "n_test_control": int((inB & (aB == 0)).sum()),
            "n_test_sorafenib": int((inB & (aB == 1)).sum()),
        }
        if row["n_test_control"] and row["n_test_sorafenib"]:
            row.update(incidence_by_arm(tB[inB], eB[inB], aB[inB], tau))
            row.update(arm_hazard_ratio(tB[inB], eB[inB], aB[inB]))
        test = interaction_test(tB, eB, aB, pd.Series(np.where(inB, "in", "out")))
        row["interaction_p"] = test["p"]
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("mean_estimate_discovery", ascending=False)
    table["p_holm"] = (
        holm(table["interaction_p"].to_numpy()) if len(table) > 1 else table["interaction_p"]
    )
    table = table.reset_index(drop=True)
    candidate = table.iloc[0].to_dict() if len(table) > 1 else None
    return {
        "table": table,
        "candidate": candidate,
        "n_discovery": int(discovery.sum()),
        "n_test": int((~discovery).sum()),
        "outcome": outcome,
    }
