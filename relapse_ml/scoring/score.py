"""Scoring: features by the training code, risks under each arm, intervals, drivers, checks.

Horizons count from the landmark (the visit day), not from the transplant. Risks are
cumulative incidences: relapse, non-relapse mortality (NRM), and relapse-free survival
(alive without relapse) = 1 − relapse − NRM. The benefit of sorafenib is the absolute
difference of relapse risk, control − sorafenib (positive: sorafenib lowers the risk), in the JSON ``relapse_risk_reduction``; the gain
in relapse-free survival is sorafenib − control (``rfs_gain``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.scoring.inputs import model_features
from relapse_ml.scoring.model import ScoringModel

SCHEMA_VERSION = "1.2.0"
TRIAL = "NCT04674345"
DISCLAIMER = (
    "Decision support from a research model, not a treatment order: weigh it with "
    "the full clinical picture."
)
INTERVAL_LEVEL = 0.95


def horizon_incidence(model: ScoringModel, X: np.ndarray, numbers=None) -> dict[str, np.ndarray]:
    """``{arm: (n, 3, n_horizons)}`` at the model's horizons (days from the landmark)."""
    return {arm: model.incidence(X, model.horizons, arm, numbers) for arm in model.arms}


def replicate_incidence(model: ScoringModel, X: np.ndarray) -> dict[str, np.ndarray] | None:
    """``{arm: (K, n, 3, n_horizons)}`` from the bootstrap refits, or None without any."""
    if not model.replicates:
        return None
    reps = [horizon_incidence(model, X, r) for r in model.replicates]
    return {arm: np.stack([r[arm] for r in reps]) for arm in model.arms}


def percentile_interval(samples: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    a = (1 - INTERVAL_LEVEL) / 2
    return np.quantile(samples, a, axis=axis), np.quantile(samples, 1 - a, axis=axis)


def eligibility(cohort, landmark_day: float, complete_record: bool):
    """`relapse_ml.eligibility.screen` with data up to the landmark.

    complete_record: the single-patient file is the patient's whole record, so an event
        type it does not hold did not happen (a cohort instead counts an event type as
        recorded only when some patient has it).
    """
    from relapse_ml.data.contract import EVENTS
    from relapse_ml.eligibility import screen

    return screen(
        cohort,
        as_of_day=float(landmark_day),
        records_events=tuple(EVENTS) if complete_record else None,
    )


# -- many patients ----------------------------------------------------------------------------
def score_cohort(
    model: ScoringModel,
    cohort,
    landmark_day: float | None = None,
    intervals: bool = False,
    benefit=None,
) -> pd.DataFrame:
    """One row per patient: risks under each arm at each horizon, benefit, checks.

    Patients who relapsed or died on or before the landmark are not at risk: their risks
    are empty (``at_risk`` False). ``intervals``: add bootstrap percentile intervals of the
    benefit when the model has replicates (K times the prediction cost). ``benefit``: a
    `benefit_model.BenefitModel`: add its reported estimate ``benefit_relapse``,
    ``benefit_rfs`` (risk without minus with sorafenib) and, with ``intervals``, their
    ``_low``/``_high`` (the columns of ``relapse-ml benefit --save-patient-estimates``).
    """
    from relapse_ml.scoring.warnings import warning_flags

    L = float(model.landmark_day if landmark_day is None else landmark_day)
    X = model_features(model, cohort, L)
    ids = X.index
    outcome = cohort.outcome.reindex(ids)
    at_risk = ~(outcome["event"].isin([1, 2]).to_numpy() & (outcome["time"].to_numpy(float) <= L))
    out = pd.DataFrame({"patient_id": ids.to_numpy(object), "landmark_day": L, "at_risk": at_risk})
    rows = np.flatnonzero(at_risk)
    arr = X.to_numpy(float)[rows]
    inc = horizon_incidence(model, arr)
    for j, h in enumerate(model.horizons):
        for arm in model.arms:
            for k, what in ((1, "relapse"), (2, "nrm"), (0, "rfs")):
                col = np.full(len(ids), np.nan)
                col[rows] = inc[arm][:, k, j]
                out[f"{what}_{h:g}d_{arm}"] = col
        if model.has_arm:
            out[f"relapse_reduction_{h:g}d"] = (
                out[f"relapse_{h:g}d_control"] - out[f"relapse_{h:g}d_sorafenib"]
            )
            out[f"rfs_gain_{h:g}d"] = out[f"rfs_{h:g}d_sorafenib"] - out[f"rfs_{h:g}d_control"]
    if intervals and model.has_arm and model.replicates:
        reps = replicate_incidence(model, arr)
        diff = reps["control"][:, :, 1, :] - reps["sorafenib"][:, :, 1, :]
        lo, hi = percentile_interval(diff)
        for j, h in enumerate(model.horizons):
            for name, v in (("low", lo), ("high", hi)):
                col = np.full(len(ids), np.nan)
                col[rows] = v[:, j]
                out[f"relapse_reduction_{h:g}d_{name}"] = col
    if benefit is not None:
        from relapse_ml.scoring.benefit_score import cohort_columns

        out = out.assign(**cohort_columns(benefit, cohort, L, rows, len(ids), intervals))
    elig = eligibility(cohort, L, complete_record=False).per_patient.set_index("patient_id")
    out["eligibility"] = elig["status"].reindex(ids).astype(str).to_numpy()
    out["eligibility_reasons"] = elig["reasons"].reindex(ids).to_numpy()
    flags = warning_flags(cohort, X, model, L)
    codes = [
        "early_landmark",
        "landmark_outside_model",
        "stale_mrd",
        "missing_marker",
        "missing_input",
        "ood",
    ]
    out["warnings"] = np.where(
        at_risk, _codes(flags[codes], out["eligibility"].to_numpy()), "not_at_risk"
    )
    out["ood_features"] = np.where(at_risk, flags["ood_features"].to_numpy(), "")
    out["missing_markers"] = np.where(at_risk, flags["missing_markers"].to_numpy(), "")
    return out


def _codes(flags: pd.DataFrame, elig: np.ndarray) -> np.ndarray:
    arr = flags.to_numpy(bool)
    names = np.asarray(flags.columns, dtype=object)
    out = np.full(len(flags), "", dtype=object)
    extra = np.where(
        elig == "not_eligible",
        "not_eligible",
        np.where(elig == "not_assessable", "eligibility_not_assessable", ""),
    )
    for i in np.flatnonzero(arr.any(axis=1) | (extra != "")):
        out[i] = ";".join([*names[arr[i]], *([extra[i]] if extra[i] else [])])
    return out


# -- one patient ------------------------------------------------------------------------------
def score_record(model: ScoringModel, record, benefit_model=None) -> dict:
    """The full score document of one patient (`schema.py` documents and checks it).

    benefit_model: a `benefit_model.BenefitModel` (``score --benefit DIR``): the change with
    sorafenib, its interval and the benefit drivers then come from it (`benefit_score`).
    """
    from relapse_ml import __version__
    from relapse_ml.scoring.warnings import patient_warnings, warning_flags

    L = float(record.landmark_day)
    cohort = record.cohort
    X = model_features(model, cohort, L)
    arr = X.to_numpy(float)
    inc = horizon_incidence(model, arr)
    reps = replicate_incidence(model, arr)
    risks = []
    for j, h in enumerate(model.horizons):
        for arm in model.arms:
            item = {
                "horizon_days": h,
                "arm": arm,
                "relapse": float(inc[arm][0, 1, j]),
                "nrm": float(inc[arm][0, 2, j]),
                "relapse_free_survival": float(inc[arm][0, 0, j]),
                "relapse_interval": None,
            }
            if reps is not None:
                lo, hi = percentile_interval(reps[arm][:, 0, 1, j])
                item["relapse_interval"] = {"low": float(lo), "high": float(hi)}
            risks.append(item)
    benefit = None
    if model.has_arm:
        benefit = []
        for j, h in enumerate(model.horizons):
            c, s = inc["control"][0, :, j], inc["sorafenib"][0, :, j]
            item = {
                "horizon_days": h,
                "relapse_risk_reduction": float(c[1] - s[1]),
                "rfs_gain": float(s[0] - c[0]),
                "relapse_interval": None,
                "rfs_interval": None,
                "source": "prediction_model",
            }
            if reps is not None:
                rc, rs = reps["control"][:, 0, :, j], reps["sorafenib"][:, 0, :, j]
                lo, hi = percentile_interval(rc[:, 1] - rs[:, 1])
                item["relapse_interval"] = {"low": float(lo), "high": float(hi)}
                lo, hi = percentile_interval(rs[:, 0] - rc[:, 0])
                item["rfs_interval"] = {"low": float(lo), "high": float(hi)}
            benefit.append(item)

    elig = eligibility(cohort, L, complete_record=True).per_patient.iloc[0]
    reasons = [r for r in str(elig["reasons"] or "").split("; ") if r and r != "nan"]
    flags = warning_flags(cohort, X, model, L).iloc[0]
    warnings = patient_warnings(flags, X.iloc[0], model, L)
    if elig["status"] == "not_eligible":
        warnings.insert(
            0,
            {
                "code": "not_eligible",
                "message": f"not eligible for the trial ({TRIAL}): " + "; ".join(reasons),
                "features": [],
            },
        )
    elif elig["status"] == "not_assessable":
        warnings.insert(
            0,
            {
                "code": "eligibility_not_assessable",
                "message": "trial eligibility not assessable (data missing): " + "; ".join(reasons),
                "features": [],
            },
        )
    if not model.has_arm:
        warnings.append(
            {
                "code": "no_arm",
                "message": "the model has no treatment (arm) feature: "
                "it was trained on an observational cohort, so it gives one risk and no "
                "sorafenib benefit",
                "features": [],
            }
        )

    from relapse_ml.scoring import benefit_score as B

    drivers = drivers_section(model, cohort, X, L)
    if benefit_model is not None:
        estimate, more = B.export_section(benefit_model, cohort, L)
        warnings.extend(more)
        benefit = B.table_items(estimate)
        if drivers.get("benefit") is not None:
            drivers["benefit"] = None  # the benefit drivers are the export's (benefit_estimate)
    else:
        estimate = B.prediction_model_section(model, max(model.horizons))
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "relapse-ml.score",
        "disclaimer": DISCLAIMER,
        "generated_by": {"relapse_ml": __version__},
        "patient_id": record.patient_id,
        "landmark_day": L,
        "horizons_count_from": "landmark",
        "model": model_summary(model),
        "risks": risks,
        "benefit": benefit,
        "benefit_estimate": estimate,
        "interval": interval_summary(model),
        "drivers": drivers,
        "eligibility": {
            "trial": TRIAL,
            "status": str(elig["status"]),
            "reasons": reasons,
            "as_of_day": L,
        },
        "warnings": warnings,
    }


def risk_curves(model: ScoringModel, record, n_points: int = 73) -> dict:
    """Relapse and NRM incidence from the landmark to the horizon under each arm (for plots)."""
    X = model_features(model, record.cohort, record.landmark_day).to_numpy(float)
    times = np.linspace(0.0, float(max(model.horizons)), n_points)
    out = {"days": times.tolist()}
    for arm in model.arms:
        inc = model.incidence(X, times, arm)[0]
        out[arm] = {"relapse": inc[1].tolist(), "nrm": inc[2].tolist()}
    return out


def model_summary(model: ScoringModel) -> dict:
    info, src = model.info, model.source
    lo, hi = model.supported_landmarks
    metrics = {
        k: (None if v is None or v != v else float(v))
        for k, v in (info.get("metrics") or {}).items()
    }
    weights = info.get("stack_weights") or getattr(model.numbers, "weights", None)
    out = {
        "name": str(info.get("model", model.model_type)),
        "type": model.model_type,
        "params": info.get("params") or {},
        "source": src.get("kind", "unknown"),
        "ref": str(src.get("ref", "")),
        "version": _str(info.get("model_version", src.get("version"))),
        "run_id": _str(info.get("run_id", src.get("run_id"))),
        "bundle_sha256": _str(src.get("bundle_sha256")),
        "data_fingerprint": _str(info.get("data_fingerprint")),
        "trained_landmarks": [lo, hi],
        "horizon_days": model.horizon_days,
        "has_arm": model.has_arm,
        "metrics": metrics,
        "metrics_note": f"cross-validated (out-of-fold) on the training cohort, at "
        f"{model.horizon_days:g} days after the landmark",
    }
    if weights:  # a stack: its members' weights
        out["weights"] = {str(k): float(v) for k, v in weights.items()}
    return out


def interval_summary(model: ScoringModel) -> dict:
    if model.replicates:
        k = len(model.replicates)
        return {
            "available": True,
            "level": INTERVAL_LEVEL,
            "replicates": k,
            "method": "bootstrap percentile",
            "note": f"{int(INTERVAL_LEVEL * 100)}% percentile interval over {k} refits of the "
            "model on bootstrap resamples of the training patients (model "
            "uncertainty only)",
        }
    return {
        "available": False,
        "level": None,
        "replicates": None,
        "method": None,
        "note": "no interval available: the model was exported without bootstrap "
        "replicates (relapse-ml export --bootstrap K)",
    }


def drivers_section(model: ScoringModel, cohort, X: pd.DataFrame, L: float) -> dict:
    """Top drivers of risk (and of benefit), Shapley over feature groups on the risk scale."""
    from relapse_ml.scoring import drivers as D

    tau = float(max(model.horizons))
    empty = {
        "available": False,
        "horizon_days": tau,
        "method": None,
        "scale": None,
        "reference": None,
        "risk": [],
        "benefit": None,
    }
    if not model.background or not model.background.get("reference"):
        return {
            **empty,
            "note": "no background summary in this model (export a bundle with the "
            "training data: relapse-ml export --data DIR) — drivers not available",
        }
    columns = model.feature_columns
    x = X.to_numpy(float)[0]
    ref = D.reference_vector(x, columns, model.background)
    groups = D.feature_groups(columns)

    def value(rows: np.ndarray) -> np.ndarray:
        if model.has_arm:
            c = model.incidence(rows, [tau], "control")[:, 1, 0]
            s = model.incidence(rows, [tau], "sorafenib")[:, 1, 0]
            return np.stack([c, c - s], axis=1)
        return model.incidence(rows, [tau], "observed")[:, 1, :]

    phi, at_x, at_ref, method = D.group_shapley(value, x, ref, groups)
    texts = D.describe(cohort, X.iloc[0], L)
    arm_words = "without sorafenib" if model.has_arm else "(observed treatment)"
    section = {
        "available": True,
        "horizon_days": tau,
        "method": f"Shapley values of feature groups against a reference patient, {method}",
        "scale": f"points of relapse risk (percentage points) at {tau:g} days after the landmark",
        "reference": {
            "description": model.background.get("method", ""),
            "relapse_risk": float(at_ref[0]),
            "benefit": float(at_ref[1]) if model.has_arm else None,
        },
        "risk": D.top_drivers(phi, 0, texts, f"relapse risk {arm_words}"),
        "benefit": D.top_drivers(phi, 1, texts, "sorafenib benefit") if model.has_arm else None,
        "note": "drivers add up to the patient's risk minus the reference patient's risk",
    }
    if not groups:
        section["note"] = "the model uses no patient features: no drivers"
    return section


def _str(v) -> str | None:
    return None if v is None else str(v)
