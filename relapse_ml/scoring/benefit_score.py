"""Where a score's benefit of sorafenib comes from: the ``benefit_estimate`` section.

With ``score --benefit DIR`` (a ``relapse-ml benefit --export-benefit DIR`` export,
`benefit_model`), the change with sorafenib, its interval and the benefit drivers are the
benefit run's REPORTED estimate for this patient: when that run chose the trial's average
effect (``constant``) or the risk-based (PATH) estimate, the score says that there is no
evidence this patient's benefit differs from the average and shows no benefit drivers;
for an individual choice it shows the drivers of that estimate (Shapley values over feature
groups against the run's typical patient, `drivers.group_shapley`). Without an export the
change is the prediction model's two-arm difference, labelled as such: not a validated
individual benefit.
"""

from __future__ import annotations

import numpy as np

from relapse_ml.scoring import drivers as D

OUTCOME_WORDS = {"relapse": "relapse", "rfs": "relapse or death"}
AVERAGE_WORDS = "no evidence that this patient's benefit differs from the average"
PREDICTION_MODEL_NOTE = (
    "the prediction model's two-arm difference, not a validated individual benefit; give "
    "--benefit DIR (`relapse-ml benefit --export-benefit DIR`) for the benefit analysis' "
    "reported estimate"
)


def change_words(benefit: float, iv: dict | None, level: float) -> str:
    """'−4.2 points (95% CI −9.0 to +0.3)': the change in risk with sorafenib (−benefit)."""
    text = f"{-100 * benefit:+.1f} points".replace("-", "−")
    if iv:
        lo, hi = -iv["high"], -iv["low"]
        text += f" ({100 * level:.0f}% CI {100 * lo:+.1f} to {100 * hi:+.1f})".replace("-", "−")
    return text


def statement(kind: str, outcome: str, benefit: float, iv: dict | None, level: float) -> str:
    what = OUTCOME_WORDS[outcome]
    change = change_words(benefit, iv, level)
    if kind == "constant":
        return (
            f"{what}: {AVERAGE_WORDS}; the trial's average effect applied to this patient: {change}"
        )
    if kind == "risk":
        return (
            f"{what}: {AVERAGE_WORDS}; the trial's average effect applied to this patient "
            f"(adjusted towards this patient's baseline risk): {change}"
        )
    return f"{what}: individual estimate for this patient: {change}"


def prediction_model_section(model, horizon: float) -> dict:
    """``benefit_estimate`` without an export: what the change column is, in words."""
    return {
        "source": "prediction_model" if model.has_arm else "none",
        "horizon_days": float(horizon),
        "landmark_day": None,
        "level": None,
        "outcomes": None,
        "drivers": None,
        "export": None,
        "note": PREDICTION_MODEL_NOTE if model.has_arm else "the model has no arm: no benefit",
    }


def export_section(bm, cohort, L: float) -> tuple[dict, list[dict]]:
    """``(benefit_estimate, warnings)`` of one patient from a `benefit_model.BenefitModel`."""
    from relapse_ml.scoring.inputs import model_features

    X = model_features(bm, cohort, L)
    x = X.to_numpy(float)
    est = bm.predict(x)
    iv = bm.interval(x, est)
    outcomes = {}
    for o, ch in bm.choices.items():
        b = float(est[o][0])
        interval = None if iv is None else {"low": float(iv[0][o][0]), "high": float(iv[1][o][0])}
        outcomes[o] = {
            "kind": ch["kind"],
            "learner": ch["learner"],
            "reason": ch["reason"],
            "benefit": b,
            "interval": interval,
            "statement": statement(ch["kind"], o, b, interval, bm.level),
        }
    individual = [o for o, ch in bm.choices.items() if ch["kind"] == "individual"]
    drivers = {o: [] for o in bm.choices}
    if individual:
        ref = D.reference_vector(x[0], bm.feature_columns, bm.background)
        groups = D.feature_groups(bm.feature_columns)

        def value(rows):
            p = bm.predict(rows)
            return np.column_stack([p[o] for o in individual])

        phi, _, _, method = D.group_shapley(value, x[0], ref, groups)
        texts = D.describe(cohort, X.iloc[0], L)
        for k, o in enumerate(individual):
            drivers[o] = D.top_drivers(phi, k, texts, f"{OUTCOME_WORDS[o]}-risk reduction")
        note = (
            f"drivers of the individual estimate: Shapley values of feature groups ({method}) "
            "against the benefit analysis' typical patient"
        )
    else:
        note = (
            "no benefit drivers: the benefit analysis found no evidence that benefit differs "
            "between patients beyond their baseline risk (the reported estimate is the trial's "
            "average effect, or that average adjusted towards the patient's baseline risk)"
        )
    section = {
        "source": "benefit_export",
        "horizon_days": float(bm.horizon_days),
        "landmark_day": float(bm.landmark_day),
        "level": float(bm.level),
        "outcomes": outcomes,
        "drivers": drivers,
        "drivers_note": note,
        "export": {
            "ref": str(bm.source.get("ref", "")),
            "sha256": str(bm.source.get("sha256", "")),
            "cohort": str(bm.info.get("cohort", "")),
            "patients": bm.info.get("patients"),
            "replicates": len(bm.replicates),
        },
        "note": (
            f"reported estimate of the benefit analysis (relapse-ml benefit), risk without "
            f"minus with sorafenib at {bm.horizon_days:g} days after day {bm.landmark_day:g}; "
            f"{100 * bm.level:.0f}% interval: percentiles over "
            f"{len(bm.replicates)} bootstrap replicates that re-ran the analysis' choice"
        ),
    }
    warnings = []
    if abs(float(L) - bm.landmark_day) > 0.5:
        warnings.append(
            {
                "code": "benefit_landmark",
                "message": f"the benefit analysis is of patients at risk at day "
                f"{bm.landmark_day:g} (randomization); this patient is scored at day {L:g}, "
                "with data to that day",
                "features": [],
            }
        )
    return section, warnings


def table_items(section: dict) -> list[dict]:
    """The score's ``benefit`` rows (the change column) from an export's section."""
    o = section["outcomes"]
    return [
        {
            "horizon_days": section["horizon_days"],
            "relapse_risk_reduction": o["relapse"]["benefit"],
            "rfs_gain": o["rfs"]["benefit"],  # 1 − RFS under control minus under sorafenib
            "relapse_interval": o["relapse"]["interval"],
            "rfs_interval": o["rfs"]["interval"],
            "source": "benefit_export",
        }
    ]


def cohort_columns(bm, cohort, L: float, rows, n: int, intervals: bool) -> dict:
    """``benefit_<outcome>`` (and with ``intervals`` ``_low``/``_high``) for ``rows`` of the
    cohort's ``n`` patients (NaN elsewhere), as in ``benefit --save-patient-estimates``."""
    from relapse_ml.scoring.inputs import model_features

    x = model_features(bm, cohort, L).to_numpy(float)[rows]
    est = bm.predict(x)
    iv = bm.interval(x, est) if intervals else None
    parts = {"": est} if iv is None else {"": est, "_low": iv[0], "_high": iv[1]}
    out = {}
    for o in est:
        for suffix, values in parts.items():
            col = np.full(n, np.nan)
            col[rows] = values[o]
            out[f"benefit_{o}{suffix}"] = col
    return out


def words(est: dict) -> tuple[str, list[str], list[str]]:
    """``(title, statements, reasons)`` of a ``benefit_estimate`` from a benefit export."""
    from relapse_ml.scoring.inputs import horizon_words

    title = (
        f"Benefit of sorafenib by {horizon_words(est['horizon_days'])} after day "
        f"{est['landmark_day']:g}"
    )
    outs = est["outcomes"]
    why = [f"why ({OUTCOME_WORDS[k]}, {o['learner']}): {o['reason']}" for k, o in outs.items()]
    return title, [o["statement"] for o in outs.values()], why
