"""Safety checks of a score: out-of-distribution features and data quality, per patient.

* Out of distribution (``ood``): a feature value below the training 1st or above the 99th
  percentile (``predictor.training_ranges``). The central 98 % is used rather than min–max
  because one extreme training patient would otherwise widen the range the model has
  "seen" to values it has in fact barely seen; for a 0/1 feature it flags a level that
  fewer than 1 % of training patients had. Missing values are not OOD (see below), and
  the ``*_missing`` indicators, the arm and the landmark columns are not checked. A level
  of an extra string column that no training patient had (`unseen_level_flags`, from the
  training levels in ``model.info["categories"]``) is OOD too: the patient is scored as
  the reference level, with this warning, never as a missing value.
* Data quality: no MRD (flow) result in the 30 days up to the landmark (``stale_mrd``); a
  marker the model uses with no result at all by the landmark (``missing_marker``); a
  feature missing although no training patient had it missing (``missing_input``); a
  landmark earlier than the model was trained at (``early_landmark``) or later / off its
  landmarks (``landmark_outside_model``).
All checks are vectorised: `warning_flags` gives one row per patient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MRD_RECENT_DAYS = 30.0
MARKERS = {  # marker -> (feature prefix, words)
    "mrd_mfc": ("mrd_mfc_", "MRD (flow cytometry)"),
    "wt1": ("wt1_", "WT1"),
    "donor_chimerism": ("chimerism_", "donor chimerism"),
}
NOT_CHECKED = ("arm", "landmark_day", "landmark_day_sq")

LABELS = {
    "age": "age (years)",
    "ecog": "ECOG",
    "hct_ci": "HCT-CI",
    "mrd_mfc_latest": "latest MRD (flow, %)",
    "mrd_mfc_peak": "peak MRD (flow, %)",
    "mrd_mfc_days_since": "days since the last MRD",
    "mrd_mfc_log_slope": "MRD log-slope per 30 days",
    "mrd_mfc_detected_ever": "MRD ever detected",
    "wt1_latest": "latest WT1 (copies/10^4 ABL)",
    "wt1_peak": "peak WT1 (copies/10^4 ABL)",
    "wt1_days_since": "days since the last WT1",
    "wt1_log_slope": "WT1 log-slope per 30 days",
    "wt1_detected_ever": "WT1 ever positive",
    "chimerism_latest": "latest donor chimerism (%)",
    "chimerism_lowest": "lowest donor chimerism (%)",
    "chimerism_mixed": "mixed chimerism",
    "chimerism_trend": "chimerism trend (% per 30 days)",
    "chimerism_days_since": "days since the last chimerism",
    "agvhd_max_grade": "highest acute GVHD grade",
    "agvhd_active": "acute GVHD active",
    "cgvhd_max_grade": "highest chronic GVHD grade",
    "sorafenib_days": "days on sorafenib",
}


def column_label(col: str) -> str:
    """Words for a feature column (``disease_status_CR2`` -> "disease status CR2")."""
    if col in LABELS:
        return LABELS[col]
    for cat in (
        "disease_status",
        "cytogenetic_risk",
        "pre_hsct_mrd",
        "donor_type",
        "diagnosis",
        "conditioning",
        "sex",
    ):
        if col.startswith(cat + "_"):
            return f"{cat.replace('_', ' ')} {col[len(cat) + 1 :]}"
    return col.replace("_", " ")


def ood_matrix(X: pd.DataFrame, ranges: dict) -> pd.DataFrame:
    """True where a value lies outside the training 1st–99th percentile (NaN never)."""
    out = pd.DataFrame(False, index=X.index, columns=X.columns)
    for col in X.columns:
        r = ranges.get(col)
        if r is None or col in NOT_CHECKED or col.endswith("_missing"):
            continue
        lo, hi = _num(r.get("p01")), _num(r.get("p99"))
        v = X[col].to_numpy(float)
        with np.errstate(invalid="ignore"):
            bad = np.zeros(len(v), bool)
            if np.isfinite(lo):
                bad |= v < lo
            if np.isfinite(hi):
                bad |= v > hi
            if not np.isfinite(lo) and not np.isfinite(hi):  # never observed in training
                bad |= ~np.isnan(v)
        out[col] = bad
    return out


def ood_text(col: str, value: float, ranges: dict) -> str:
    r = ranges.get(col, {})
    lo, hi = _num(r.get("p01")), _num(r.get("p99"))
    if not (np.isfinite(lo) or np.isfinite(hi)):
        return f"{column_label(col)} = {value:g} (never observed in training)"
    return f"{column_label(col)} = {value:g} (training 1st–99th percentile {lo:.3g}–{hi:.3g})"


def missing_input_matrix(X: pd.DataFrame, ranges: dict) -> pd.DataFrame:
    """True where a non-marker feature is missing though no training patient had it missing."""
    marker_prefixes = tuple(p for p, _ in MARKERS.values())
    out = pd.DataFrame(False, index=X.index, columns=X.columns)
    for col in X.columns:
        r = ranges.get(col)
        if r is None or col in NOT_CHECKED or col.startswith(marker_prefixes):
            continue
        if _num(r.get("missing")) == 0.0:
            out[col] = X[col].isna().to_numpy()
    return out


def last_marker_day(cohort, marker: str, landmark_day: float) -> pd.Series:
    """Day of each patient's latest ``marker`` result on or before the landmark (NaN: none)."""
    m = cohort.measurements
    day = m["day"].to_numpy(float)
    sel = (m["marker"] == marker).to_numpy(bool) & (day <= landmark_day) & (day >= 0)
    sel &= m["value"].notna().to_numpy(bool)
    last = pd.Series(day[sel], index=m["patient_id"].to_numpy(object)[sel]).groupby(level=0).max()
    return last.reindex(cohort.patients["patient_id"].astype(str).to_numpy()).set_axis(
        pd.Index(cohort.patients["patient_id"].astype(str), name="patient_id")
    )


def uses_marker(columns, marker: str) -> bool:
    prefix = MARKERS[marker][0]
    return any(c.startswith(prefix) for c in columns)


def warning_flags(cohort, X: pd.DataFrame, model, landmark_day: float) -> pd.DataFrame:
    """One row per patient: a boolean column per warning code, plus the columns behind them.

    Columns: ``ood`` and ``ood_features`` (";"-joined), ``stale_mrd`` and ``last_mrd_day``,
    ``missing_marker`` and ``missing_markers``, ``missing_input`` and ``missing_inputs``,
    ``early_landmark``, ``landmark_outside_model``.
    """
    L = float(landmark_day)
    out = pd.DataFrame(index=X.index)
    ood = ood_matrix(X, model.training_ranges)
    unseen = unseen_level_flags(cohort, X, model)
    out["ood"] = ood.any(axis=1) | unseen.any(axis=1)
    out["ood_features"] = _joined(ood)
    out["unseen_levels"] = _joined(unseen)
    if uses_marker(X.columns, "mrd_mfc"):
        last = last_marker_day(cohort, "mrd_mfc", L).reindex(X.index)
        out["last_mrd_day"] = last
        out["stale_mrd"] = ~(last >= L - MRD_RECENT_DAYS).to_numpy(bool)
    else:
        out["last_mrd_day"] = np.nan
        out["stale_mrd"] = False
    miss = pd.DataFrame(index=X.index)
    for marker in MARKERS:
        if uses_marker(X.columns, marker):
            miss[marker] = last_marker_day(cohort, marker, L).reindex(X.index).isna().to_numpy()
    out["missing_marker"] = miss.any(axis=1) if miss.shape[1] else False
    out["missing_markers"] = _joined(miss) if miss.shape[1] else ""
    mi = missing_input_matrix(X, model.training_ranges)
    out["missing_input"] = mi.any(axis=1)
    out["missing_inputs"] = _joined(mi)
    lo, hi = model.supported_landmarks
    out["early_landmark"] = L < lo
    out["landmark_outside_model"] = L > hi
    return out


def patient_warnings(flags: pd.Series, x: pd.Series, model, landmark_day: float) -> list[dict]:
    """The warnings of one patient in words: ``[{"code", "message", "features"}]``."""
    L = float(landmark_day)
    out = []
    lo, hi = model.supported_landmarks
    trained = f"day {lo:g}" if lo == hi else f"days {lo:g}–{hi:g}"
    if flags["early_landmark"]:
        out.append(
            _w(
                "early_landmark",
                f"landmark day {L:g} is earlier than the model supports "
                f"(trained at {trained}); the risks are an extrapolation",
            )
        )
    if flags["landmark_outside_model"]:
        out.append(
            _w(
                "landmark_outside_model",
                f"landmark day {L:g} is outside the model's "
                f"landmarks (trained at {trained}); the risks are an extrapolation",
            )
        )
    if flags["stale_mrd"]:
        last = flags["last_mrd_day"]
        when = "none by the landmark" if pd.isna(last) else f"last on day {last:g}"
        out.append(
            _w(
                "stale_mrd",
                f"no MRD (flow) result in the {MRD_RECENT_DAYS:g} days before "
                f"the landmark ({when}); a current MRD would make the risk more reliable",
            )
        )
    if flags["missing_marker"]:
        names = [MARKERS[m][1] for m in str(flags["missing_markers"]).split(";") if m]
        out.append(
            _w(
                "missing_marker",
                f"no {', '.join(names)} result by day {L:g}: the model treats it as missing",
                names,
            )
        )
    if flags["missing_input"]:
        cols = [c for c in str(flags["missing_inputs"]).split(";") if c]
        out.append(
            _w(
                "missing_input",
                "missing, though no training patient had it missing: "
                + ", ".join(column_label(c) for c in cols),
                cols,
            )
        )
    if flags["ood"]:
        cols = [c for c in str(flags["ood_features"]).split(";") if c]
        texts = [ood_text(c, float(x[c]), model.training_ranges) for c in cols]
        levels = (model.info or {}).get("categories") or {}
        for name in [c for c in str(flags.get("unseen_levels", "")).split(";") if c]:
            texts.append(f"{name} is a level no training patient had (known: "
                         f"{', '.join(levels.get(name, []))}); scored as the reference level "
                         f"{(levels.get(name) or ['?'])[0]!r}")
            cols.append(f"extra_{name}")
        out.append(_w("ood", "outside the model's experience (out of distribution): " + "; ".join(texts), cols))
    return out


def unseen_level_flags(cohort, X: pd.DataFrame, model) -> pd.DataFrame:
    """Per patient and extra string column: a known value that is none of the training levels.

    The training levels are ``model.info["categories"]`` (`relapse_ml.features.baseline.
    category_levels` of the training cohort); a model without them gives no flags.
    """
    from relapse_ml.features.baseline import unseen_levels

    levels = (getattr(model, "info", None) or {}).get("categories") or {}
    if not levels:
        return pd.DataFrame(index=X.index)
    p = cohort.patients.set_index(cohort.patients["patient_id"].astype(str))
    return unseen_levels(p, levels).reindex(X.index).fillna(False).astype(bool)


def _w(code: str, message: str, features=None) -> dict:
    return {"code": code, "message": message, "features": list(features or [])}


def _joined(mask: pd.DataFrame) -> pd.Series:
    """ ";"-joined names of the True columns of each row (vectorised over rows)."""
    if not mask.shape[1]:
        return pd.Series("", index=mask.index)
    arr = mask.to_numpy(bool)
    out = np.full(arr.shape[0], "", dtype=object)
    cols = np.asarray(mask.columns, dtype=object)
    for i in np.flatnonzero(arr.any(axis=1)):  # usually few rows
        out[i] = ";".join(cols[arr[i]])
    return pd.Series(out, index=mask.index)


def _num(v) -> float:
    return float("nan") if v is None else float(v)
