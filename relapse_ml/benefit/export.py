"""``relapse-ml benefit --export-benefit DIR``: the reported benefit, portable, for `score`.

Writes the reported choice per outcome and the numbers to evaluate it without
scikit-learn (`relapse_ml.scoring.benefit_model` documents the layout and the evaluation),
for the analysis and for every bootstrap replicate's re-run selection, so that `score`
gives a new patient the estimate and the interval the run gives its own patients. Plain
JSON (XGBoost's own JSON for boosters), a SHA-256 manifest, written atomically; after
writing, the export is read back and must reproduce the run's estimates and intervals on
the run's patients (to `EXPORT_TOLERANCE`), else nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from relapse_ml.benefit.config import OUTCOMES
from relapse_ml.errors import ModelError, RelapseMLError
from relapse_ml.scoring.benefit_model import FORMAT, FORMAT_VERSION, load_benefit
from relapse_ml.scoring.bundle import MANIFEST, write_bundle
from relapse_ml.scoring.numbers import numbers_from_model
from relapse_ml.scoring.predict import _booster_json, _list, dumps

EXPORT_TOLERANCE = 1e-6


def check_export_dir(out: str | os.PathLike) -> Path:
    """Refuse, before any work, a DIR that exists and is neither empty nor a benefit export."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _is_export(out))):
        raise RelapseMLError(
            f"--export-benefit {out}: exists and is not a benefit export; give a new or "
            "empty directory (an earlier benefit export there is replaced)"
        )
    return out


def _is_export(d: Path) -> bool:
    import json

    try:
        return json.loads((d / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


# -- fitted learners -> JSON documents --------------------------------------------------------
class _Files:
    """The export's extra files (boosters), named under a prefix."""

    def __init__(self):
        self.files: dict[str, bytes] = {}

    def model(self, model, prefix: str) -> dict:
        numbers = numbers_from_model(model)
        spec, extra = numbers.to_files()
        names = {}
        for name, data in extra.items():
            self.files[f"{prefix}{name}"] = data
            names[name] = f"{prefix}{name}"
        return {"model_type": numbers.model_type, "spec": spec, "files": names}


def learner_doc(fitted, files: _Files, prefix: str) -> dict:
    """The numbers of one refitted learner (`refit.FittedBenefit` or `FittedConstant`)."""
    from relapse_ml.benefit.effect_learners import ConstantLearner, RiskBasedLearner
    from relapse_ml.benefit.learners import SLearner, TLearner

    if getattr(fitted, "kind", None) == "constant" and hasattr(fitted, "value"):
        return {"type": "constant", "benefit": {o: float(fitted.value[o]) for o in OUTCOMES}}
    if fitted.kind in ("dr", "r"):
        return {
            "type": "final",
            "outcomes": {o: _final_doc(fitted.model[o], files, f"{prefix}{o}_") for o in OUTCOMES},
        }
    m = fitted.model
    if isinstance(m, ConstantLearner):
        return {
            "type": "constant",
            "benefit": {o: float(m.risk_[o][0] - m.risk_[o][1]) for o in OUTCOMES},
        }
    if isinstance(m, RiskBasedLearner):
        blind = numbers_from_model(m.blind_).to_files()[0]
        return {
            "type": "risk",
            "blind": {"preprocessor": blind["preprocessor"], "beta_std": blind["beta_std"]},
            "effect": files.model(m.effect_, f"{prefix}effect_"),
        }
    if isinstance(m, SLearner):
        inter = list(m.interactions)
        return {
            "type": "s",
            "interactions": inter,
            "median": _list(m.median_[inter]) if inter else [],
            "mean": _list(m.mean_[inter]) if inter else [],
            "model": files.model(m.model_, f"{prefix}s_"),
        }
    if isinstance(m, TLearner):
        return {
            "type": "t",
            "models": {str(a): files.model(m.models_[a], f"{prefix}arm{a}_") for a in (0, 1)},
        }
    raise ModelError(f"a {type(m).__name__} benefit learner cannot be exported")


def _final_doc(model, files: _Files, prefix: str) -> dict:
    if hasattr(model, "steps"):  # the ridge pipeline of `learners.make_final`
        # imputer, quantile scores (normal, or uniform then `learners.normal_scores` — the
        # same numbers), scaler, ridge
        steps = [step for _, step in model.steps]
        imp, qt, sc, ridge = steps[0], steps[1], steps[-2], steps[-1]
        med = np.where(np.isnan(imp.statistics_), 0.0, imp.statistics_)
        return {
            "name": "ridge",
            "median": _list(med),
            "quantiles": np.asarray(qt.quantiles_, float).tolist(),
            "references": _list(qt.references_),
            "mean": _list(sc.mean_),
            "scale": _list(sc.scale_),
            "coef": _list(np.ravel(ridge.coef_)),
            "intercept": float(np.ravel(ridge.intercept_)[0]),
        }
    booster = model.get_booster()
    files.files[f"{prefix}booster.json"] = _booster_json(booster, booster.num_boosted_rounds())
    return {"name": "xgb", "booster": f"{prefix}booster.json"}


def reported_doc(rep, files: _Files, prefix: str) -> dict:
    """A `reported.Reported`: weights and offset per outcome (a stack centred on the average
    or shrunk, `reported.finish_stack`) and the numbers of its learners."""
    keys = {k for ch in rep.choices.values() for k in ch.weights}
    learners = {}
    for i, key in enumerate(sorted(keys)):
        learners[key] = learner_doc(rep.fitted[key], files, f"{prefix}l{i}_")
    return {
        "weights": {o: {k: float(w) for k, w in rep.choices[o].weights.items()} for o in OUTCOMES},
        "offset": {o: float(rep.choices[o].offset) for o in OUTCOMES},
        "learners": learners,
    }


# -- the export -------------------------------------------------------------------------------
def export_benefit(
    out, cfg, data, rep, replicates, estimate, lower, upper, info=None, interval_info=None
) -> Path:
    """Write the export of a benefit run (``rep`` and its bootstrap ``replicates``, both
    `reported.Reported`) to ``out``; check it reproduces ``estimate``/``lower``/``upper``
    (the run's values on ``data``'s patients) before keeping it.

    interval_info: the interval step's info; when the run widened its intervals to
    prediction intervals of each patient's own benefit (`benefit.prediction`), its
    ``unexplained`` σ_u² per outcome is exported, with its shape and (``risk`` shape) the
    baseline-risk model, and a new patient's interval is widened the same way."""
    unexplained = {o: v["sigma2"] for o, v in (interval_info or {}).get("unexplained", {}).items()}
    from relapse_ml.scoring.drivers import background_summary

    out = check_export_dir(out)
    files = _Files()
    files.files["reported.json"] = dumps(reported_doc(rep, files, "reported/"))
    shape = rep.interval_shape if unexplained else {}  # only risk-shaped outcomes
    if shape:
        files.files["shape/risk.json"] = dumps(learner_doc(rep.risk_model, files, "shape/"))
    for i, r in enumerate(replicates, start=1):
        files.files[f"bootstrap/{i:03d}.json"] = dumps(
            reported_doc(r, files, f"bootstrap/{i:03d}/")
        )
    choices = {
        o: {
            "kind": ch.kind,
            "learner": ch.learner,
            "method": ch.method,
            "weights": {k: float(w) for k, w in ch.weights.items()},
            "offset": float(ch.offset),
            "reason": ch.reason,
        }
        for o, ch in rep.choices.items()
    }
    meta = {
        "feature_columns": [str(c) for c in data.X.columns],
        "features": None if cfg.features is None else list(cfg.features),
        "landmark_day": float(cfg.landmark.landmark_day),
        "horizon_days": float(cfg.landmark.horizon_days),
        "tau": float(data.tau),
        "level": float(cfg.intervals.level),
        "unexplained_variance": {o: float(v) for o, v in unexplained.items()},
        "interval_shape": shape,
        "choices": choices,
        "background": _no_nan(background_summary(data.X)),
        "info": _no_nan(info or {}),
    }
    files.files["benefit.json"] = dumps(meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.check-", dir=out.parent))
    try:  # checked in a staging copy first: a failed check leaves ``out`` as it was
        staged = write_bundle(files.files, staging / "export", fmt=FORMAT, version=FORMAT_VERSION)
        check_export(staged, data, estimate, lower, upper)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return write_bundle(files.files, out, overwrite=True, fmt=FORMAT, version=FORMAT_VERSION)


def check_export(path, data, estimate, lower, upper) -> float:
    """The export's numpy evaluation on the run's patients must equal the run's estimate and
    interval; returns the largest difference (raises `ModelError` beyond the tolerance)."""
    bm = load_benefit(path)
    X = data.X[bm.feature_columns].to_numpy(float)
    est = bm.predict(X)
    pairs = [(est[o], estimate[o]) for o in OUTCOMES]
    iv = bm.interval(X, est)
    if iv is not None:
        pairs += [(iv[k][o], want[o]) for k, want in ((0, lower), (1, upper)) for o in OUTCOMES]
    worst = max(_difference(np.asarray(a, float), np.asarray(b, float)) for a, b in pairs)
    if not worst <= EXPORT_TOLERANCE:
        raise ModelError(
            f"the benefit export does not reproduce the run's estimates (max difference "
            f"{worst:.2g} > {EXPORT_TOLERANCE:g}); nothing written — please report this"
        )
    return worst


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a − b|; inf where one side is missing (NaN) and the other not."""
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return np.inf
    both = ~np.isnan(a)
    return float(np.max(np.abs(a[both] - b[both]), initial=0.0))


def _no_nan(obj):
    from relapse_ml.scoring.bundle import _no_nan as f

    return f(obj)
