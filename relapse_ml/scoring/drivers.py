"""Drivers of one patient's risk and benefit, in points of risk, with words for each.

Method: Shapley values over feature GROUPS (all MRD columns together, all donor-type
columns together, ...) on the RISK scale, against one reference patient, the "typical
training patient" of the bundle's background summary (training medians; the most common
level for a category). The value of a set S of groups is the model's prediction at the
horizon for the patient's values in S and the reference's elsewhere, so the drivers add
up exactly to the patient's risk minus the reference patient's risk. Risk drivers
explain the relapse incidence without sorafenib (the observed-arm risk for a model with
no arm); benefit drivers explain F1(control) − F1(sorafenib). Exact (all 2^m subsets)
for up to `EXACT_LIMIT` groups that differ from the reference, otherwise estimated from
`N_PERMUTATIONS` seeded antithetic permutations (still adding up exactly).
The arm and the landmark columns are never drivers: they are held at the patient's values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from relapse_ml.features.baseline import BASELINE_CATEGORIES

EXACT_LIMIT = 12
N_PERMUTATIONS = 128
TOP = 5
FIXED = ("arm", "landmark_day", "landmark_day_sq")
# the one-hot baseline categories are the feature builder's own
CATEGORIES = BASELINE_CATEGORIES
GROUP_LABELS = {
    "age": "age",
    "ecog": "ECOG performance status",
    "hct_ci": "comorbidity (HCT-CI)",
    "sex": "sex",
    "diagnosis": "diagnosis",
    "disease_status": "disease status at transplant",
    "cytogenetic_risk": "cytogenetic risk",
    "pre_hsct_mrd": "pre-transplant MRD",
    "donor_type": "donor type",
    "conditioning": "conditioning",
    "mrd_mfc": "MRD (flow)",
    "wt1": "WT1",
    "chimerism": "donor chimerism",
    "agvhd": "acute GVHD",
    "cgvhd": "chronic GVHD",
    "sorafenib_days": "sorafenib exposure",
}


def group_of(col: str) -> str | None:
    """The driver group of a feature column (None: held fixed)."""
    if col in FIXED:
        return None
    if col in ("hct_ci", "hct_ci_missing"):
        return "hct_ci"
    if col.startswith("_obs:"):  # hidden marker histories (features/trajectory.py)
        marker = col.split(":")[1]
        return {"mrd_mfc": "mrd_mfc", "wt1": "wt1", "donor_chimerism": "chimerism"}.get(marker)
    for prefix, group in (
        ("mrd_mfc_", "mrd_mfc"),
        ("wt1_", "wt1"),
        ("chimerism_", "chimerism"),
        ("agvhd_", "agvhd"),
        ("cgvhd_", "cgvhd"),
    ):
        if col.startswith(prefix):
            return group
    for cat in CATEGORIES:
        if col.startswith(cat + "_"):
            return cat
    return col


def feature_groups(columns) -> dict[str, list[int]]:
    """Group name -> positions of its columns (in column order)."""
    groups: dict[str, list[int]] = {}
    for j, col in enumerate(columns):
        g = group_of(col)
        if g is not None:
            groups.setdefault(g, []).append(j)
    return groups


def reference_vector(x: np.ndarray, columns, background: dict) -> np.ndarray:
    """The reference patient: background values, the patient's own where there is none."""
    ref = np.array(x, dtype=float, copy=True)
    values = (background or {}).get("reference", {}) or {}
    for j, col in enumerate(columns):
        v = values.get(col)
        if v is not None and col not in FIXED:
            ref[j] = float(v)
    return ref


def group_shapley(
    value, x: np.ndarray, ref: np.ndarray, groups: dict[str, list[int]], seed: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, str]:
    """Shapley values of ``groups`` for ``value(rows) -> (n_rows, k)`` between ``ref`` and ``x``.

    Returns ``(phi {group: (k,)}, value(x), value(ref), method)``; groups whose columns equal
    the reference (NaN equal to NaN) get exactly 0 and cost nothing.
    """
    same = lambda j: (x[j] == ref[j]) or (np.isnan(x[j]) and np.isnan(ref[j]))  # noqa: E731
    active = [g for g, idx in groups.items() if not all(same(j) for j in idx)]
    m = len(active)
    ends = value(np.vstack([x, ref]))
    phi = {g: np.zeros(ends.shape[1]) for g in groups}
    if m == 0:
        return phi, ends[0], ends[1], "exact"
    cols = [np.asarray(groups[g]) for g in active]

    def rows_for(masks: np.ndarray) -> np.ndarray:
        rows = np.repeat(ref[None, :], len(masks), axis=0)
        for i, idx in enumerate(cols):
            on = (masks >> i) & 1 == 1
            rows[np.ix_(on, idx)] = x[idx]
        return rows

    if m <= EXACT_LIMIT:
        masks = np.arange(2**m, dtype=np.int64)
        v = value(rows_for(masks))
        size = np.array([bin(s).count("1") for s in masks])
        weight = np.array(
            [
                math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) if s < m else 0.0
                for s in size
            ]
        )
        for i, g in enumerate(active):
            without = masks[(masks >> i) & 1 == 0]
            phi[g] = (weight[without][:, None] * (v[without | (1 << i)] - v[without])).sum(axis=0)
        return phi, ends[0], ends[1], "exact"

    rng = np.random.default_rng(seed)
    perms = [rng.permutation(m) for _ in range(N_PERMUTATIONS // 2)]
    perms += [p[::-1] for p in perms]  # antithetic pairs halve the variance
    masks = []
    for p in perms:
        acc = 0
        masks.append(acc)
        for i in p:
            acc |= 1 << int(i)
            masks.append(acc)
    masks = np.asarray(masks, dtype=np.int64)
    v = value(rows_for(masks)).reshape(len(perms), m + 1, -1)
    total = np.zeros((m, v.shape[2]))
    for k, p in enumerate(perms):
        total[p] += v[k, 1:] - v[k, :-1]
    for i, g in enumerate(active):
        phi[g] = total[i] / len(perms)
    return phi, ends[0], ends[1], f"sampled ({len(perms)} antithetic permutations)"


def top_drivers(
    phi: dict[str, np.ndarray], k: int, texts: dict[str, str], what: str, n: int = TOP
) -> list[dict]:
    """The ``n`` groups with the largest |effect| on output ``k`` (zero effects left out)."""
    items = sorted(((g, float(v[k])) for g, v in phi.items()), key=lambda t: -abs(t[1]))
    out = []
    for g, eff in items[:n]:
        if abs(eff) < 5e-5:  # under 0.005 points: nothing to say
            continue
        desc = texts.get(g) or GROUP_LABELS.get(g, g)
        out.append(
            {
                "group": g,
                "label": GROUP_LABELS.get(g, g.replace("_", " ")),
                "description": desc,
                "effect": eff,
                "text": f"{desc}: {100 * eff:+.1f} points of {what}",
            }
        )
    return out


# -- words ----------------------------------------------------------------------------------
def describe(cohort, x: pd.Series, landmark_day: float) -> dict[str, str]:
    """What the patient's record says, per driver group, in words (data up to the landmark)."""
    L = float(landmark_day)
    p = cohort.patients.iloc[0]
    out = {}
    if "age" in x:
        out["age"] = f"age {_g(x['age'])}"
    if "ecog" in x:
        out["ecog"] = f"ECOG {_g(x['ecog'])}"
    if "hct_ci" in x:
        out["hct_ci"] = (
            "HCT-CI not recorded" if pd.isna(x["hct_ci"]) else f"HCT-CI {_g(x['hct_ci'])}"
        )
    for cat in CATEGORIES:
        if cat in p and not pd.isna(p[cat]):
            out[cat] = f"{GROUP_LABELS[cat]} {p[cat]}"
    m = cohort.measurements
    m = m[(m["day"] <= L) & (m["day"] >= 0) & m["value"].notna()]
    out["mrd_mfc"] = _marker_words(m, "mrd_mfc", "MRD (flow)", L, _pct, "", "max")
    out["wt1"] = _marker_words(m, "wt1", "WT1", L, _g, " copies/10^4 ABL", "max")
    out["chimerism"] = _marker_words(
        m, "donor_chimerism", "donor chimerism", L, lambda v: f"{v:g}%", "", "min"
    )
    if "agvhd_max_grade" in x:
        g = x["agvhd_max_grade"]
        if pd.isna(g) or g == 0:
            out["agvhd"] = f"no acute GVHD by day {L:g}"
        else:
            active = x.get("agvhd_active", np.nan)
            state = ", active" if active == 1 else (", not active" if active == 0 else "")
            out["agvhd"] = f"acute GVHD up to grade {_g(g)}{state}"
    if "cgvhd_max_grade" in x:
        g = x["cgvhd_max_grade"]
        out["cgvhd"] = (
            f"no chronic GVHD by day {L:g}"
            if pd.isna(g) or g == 0
            else f"chronic GVHD grade {_g(g)}"
        )
    if "sorafenib_days" in x:
        out["sorafenib_days"] = f"{_g(x['sorafenib_days'])} days on sorafenib by day {L:g}"
    for col in x.index:
        if col.startswith("extra_"):
            out[col] = f"{col[6:]} = {_g(x[col])}"
    return out


# a marker's last result older than this (days before the visit) is named as such: the trial
# samples monthly to day 120, then at days 180, 270 and 365
STALE_DAYS = 45


def _marker_words(
    m: pd.DataFrame, marker: str, name: str, L: float, fmt, unit: str, worst: str
) -> str:
    """ "MRD (flow) rose from 0.02% (day 30) to 0.15% (day 58)": the last two results by L."""
    s = m[m["marker"] == marker]
    if s.empty:
        return f"no {name} result by day {L:g}"
    # one value per day, the most worrying (as the features do)
    per_day = s.groupby("day")["value"].max() if worst == "max" else s.groupby("day")["value"].min()
    days, vals = per_day.index.to_numpy(float), per_day.to_numpy(float)
    # the group also carries the days since the last result: say so when it is old news
    gap = L - days[-1]
    since = f", none in the {_g(gap)} days since" if gap > STALE_DAYS else ""
    if len(days) == 1:
        return f"{name} {fmt(vals[-1])}{unit} on day {_g(days[-1])}{since}"
    a, b = vals[-2], vals[-1]
    if a == b:
        return f"{name} {fmt(b)}{unit} on days {_g(days[-2])} and {_g(days[-1])}{since}"
    verb = "rose" if b > a else "fell"
    return (
        f"{name} {verb} from {fmt(a)} (day {_g(days[-2])}) to {fmt(b)}{unit} "
        f"(day {_g(days[-1])}){since}"
    )


def _pct(v: float) -> str:
    return "undetectable" if v == 0 else f"{v:g}%"


def _g(v) -> str:
    return "?" if pd.isna(v) else f"{float(v):g}"


def background_summary(X: pd.DataFrame) -> dict:
    """The reference patient from training features: aggregates only, never a row.

    Each column's median (NaN ignored); for a reference-coded category (one 0/1 column
    per non-reference level) the most common level, so the reference is a coherent patient.
    Also the mean and share missing per column, for the record.
    """
    ref, mean = {}, {}
    for col in X.columns:
        v = X[col].to_numpy(float)
        ok = v[~np.isnan(v)]
        ref[col] = float(np.median(ok)) if ok.size else None
        mean[col] = float(ok.mean()) if ok.size else None
    for cat in CATEGORIES:
        cols = [c for c in X.columns if c.startswith(cat + "_")]
        if not cols:
            continue
        block = X[cols].to_numpy(float)
        known = ~np.isnan(block).any(axis=1)
        if not known.any():
            continue
        # level per row: the column holding 1, or the reference level (all 0) as -1
        level = np.where(block[known].sum(axis=1) > 0, block[known].argmax(axis=1), -1)
        values, counts = np.unique(level, return_counts=True)
        mode = int(values[np.argmax(counts)])
        for j, c in enumerate(cols):
            ref[c] = 1.0 if j == mode else 0.0
    return {
        "reference": ref,
        "mean": mean,
        "n_rows": int(len(X)),
        "method": "training medians of each feature; the most common level of each category",
    }
