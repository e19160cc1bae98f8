"""The reported benefit of a ``relapse-ml benefit`` run, evaluated for new patients in numpy.

``relapse-ml benefit --export-benefit DIR`` (`relapse_ml.benefit.export`) writes the
reported choice per outcome (relapse, relapse or death) and the numbers of the refitted
learners behind it — and the same for every bootstrap replicate of the whole selection —
as plain JSON with a SHA-256 manifest (the bundle's format, `scoring.bundle`). This module
reads it without scikit-learn or pandas models: a new patient's benefit is the reported
learners' weighted prediction, and the interval is the percentile of the replicates'
predictions for that patient (widened to contain the estimate), exactly as the run computed
``benefit_<outcome>_low/high`` for its own patients (tested to 1e-6).

Learner numbers (``type``): ``constant`` (one benefit per outcome), ``s`` (one competing-risk
model on the features, the arm and arm × feature columns), ``t`` (one model per arm),
``risk`` (PATH: arm-blind Fine–Gray linear predictors, then one Fine–Gray on them and the
arm), ``final`` (R/DR-learner: a ridge on median-imputed, normal-score, standardised
features, or an XGBoost regressor). Benefit = risk under control − risk under sorafenib at
the horizon.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np

from relapse_ml.errors import ModelError
from relapse_ml.scoring.bundle import BundleError, read_verified
from relapse_ml.scoring.numbers import numbers_from_files
from relapse_ml.scoring.predict import (
    Standardiser,
    _array,
    _booster,
    load_xgboost,
)

FORMAT = "relapse-ml-benefit"
# 2: a reported stack may carry an offset per outcome (its shrink and centring); a relapse-ml
# that reads only version 1 would drop it silently, so it refuses version 2 in one line
# 3: a learner that is a trajectory model records its chimerism limit (as model bundles 2)
# 4: an interval widening shaped by each patient's baseline risk carries the risk model
# (``shape/risk.json``); a reader of version 3 would widen by the unshaped σ_u² silently
FORMAT_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)  # version 1 exports have no offset (0)
OUTCOMES = ("relapse", "rfs")
CREATE = "`relapse-ml benefit --export-benefit DIR`"
BOUNDS_THRESHOLD = 1e-7  # scikit-learn's QuantileTransformer


def _risks(numbers, D: np.ndarray, tau: float) -> dict[str, np.ndarray]:
    inc = numbers.predict_incidence(D, [tau])[:, :, 0]
    return {"relapse": inc[:, 1], "rfs": 1.0 - inc[:, 0]}


def _model(doc: dict, files: dict[str, bytes], columns: list[str]):
    local = {name: files[path] for name, path in doc.get("files", {}).items()}
    return numbers_from_files(doc["model_type"], doc["spec"], local, columns)


class ConstantNumbers:
    def __init__(self, doc, files, columns, tau):
        self.value = {o: float(doc["benefit"][o]) for o in OUTCOMES}

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        return {o: np.full(X.shape[0], self.value[o]) for o in OUTCOMES}


class SNumbers:
    """S-learner: the model sees the features, ``arm`` and (x − mean) × arm columns."""

    def __init__(self, doc, files, columns, tau):
        pos = {c: i for i, c in enumerate(columns)}
        self.tau = tau
        self.idx = np.asarray([pos[c] for c in doc["interactions"]], dtype=int)
        self.median, self.mean = _array(doc["median"]), _array(doc["mean"])
        design = [*columns, "arm", *(f"arm_x_{c}" for c in doc["interactions"])]
        self.model = _model(doc["model"], files, design)

    def design(self, X: np.ndarray, arm: float) -> np.ndarray:
        a = np.full((X.shape[0], 1), float(arm))
        sub = X[:, self.idx]
        inter = (np.where(np.isnan(sub), self.median, sub) - self.mean) * a
        return np.hstack([X, a, inter])

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        r0, r1 = (_risks(self.model, self.design(X, a), self.tau) for a in (0, 1))
        return {o: r0[o] - r1[o] for o in OUTCOMES}

    def control_risk(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Risk at the horizon under control (the baseline risk of an interval's shape)."""
        return _risks(self.model, self.design(X, 0), self.tau)


class TNumbers:
    def __init__(self, doc, files, columns, tau):
        self.tau = tau
        self.models = [_model(doc["models"][str(a)], files, columns) for a in (0, 1)]

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        r0, r1 = (_risks(m, X, self.tau) for m in self.models)
        return {o: r0[o] - r1[o] for o in OUTCOMES}


class RiskNumbers:
    """PATH: arm-blind linear predictors (relapse, NRM), one Fine–Gray on them and the arm."""

    def __init__(self, doc, files, columns, tau):
        self.tau = tau
        self.blind = Standardiser.from_json(doc["blind"]["preprocessor"]).bind(columns)
        self.beta = [_array(doc["blind"]["beta_std"][k]) for k in ("1", "2")]
        self.effect = _model(doc["effect"], files, ["lp_relapse", "lp_nrm", "arm"])

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        Z = self.blind.transform(X)
        lp = np.column_stack([Z @ self.beta[0], Z @ self.beta[1]])
        r0, r1 = (
            _risks(self.effect, np.column_stack([lp, np.full(len(X), float(a))]), self.tau)
            for a in (0, 1)
        )
        return {o: r0[o] - r1[o] for o in OUTCOMES}


def _normal_ppf(p: np.ndarray) -> np.ndarray:
    """Φ⁻¹ without SciPy (its import costs the cold ``score`` about 0.3 s): the standard
    library's `statistics.NormalDist.inv_cdf` (Wichura's AS241, ~1e-16)."""
    from statistics import NormalDist

    inv = NormalDist().inv_cdf
    out = np.full(p.shape, np.nan)
    ok = (p > 0) & (p < 1)
    out[ok] = [inv(float(v)) for v in p[ok]]
    out[p <= 0], out[p >= 1] = -np.inf, np.inf
    return out


class RidgeFinal:
    """scikit-learn's median imputer → QuantileTransformer(normal) → StandardScaler → ridge."""

    def __init__(self, doc):
        self.median = _array(doc["median"])
        self.quantiles = np.asarray(doc["quantiles"], dtype=float)  # (n_quantiles, p)
        self.references = _array(doc["references"])
        self.mean, self.scale = _array(doc["mean"]), _array(doc["scale"])
        self.coef, self.intercept = _array(doc["coef"]), float(doc["intercept"])
        eps = BOUNDS_THRESHOLD - np.spacing(1)
        self.clip = _normal_ppf(np.array([eps, 1 - eps]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.where(np.isnan(X), self.median, X)
        U = np.empty_like(X)
        ref = self.references
        for j in range(X.shape[1]):
            q, x = self.quantiles[:, j], X[:, j]
            u = 0.5 * (np.interp(x, q, ref) - np.interp(-x, -q[::-1], -ref[::-1]))
            u[x + BOUNDS_THRESHOLD > q[-1]] = 1.0
            u[x - BOUNDS_THRESHOLD < q[0]] = 0.0
            U[:, j] = u
        Z = np.clip(_normal_ppf(U), self.clip[0], self.clip[1])
        return ((Z - self.mean) / self.scale) @ self.coef + self.intercept


class XGBFinal:
    def __init__(self, doc, files, columns):
        self.booster = _booster(files[doc["booster"]])
        self.columns = list(columns)

    def predict(self, X: np.ndarray) -> np.ndarray:
        xgb = load_xgboost()
        data = xgb.DMatrix(X, missing=np.nan, nthread=1, feature_names=self.columns)
        return self.booster.predict(data)


class FinalNumbers:
    def __init__(self, doc, files, columns, tau):
        self.stage = {
            o: RidgeFinal(d) if d["name"] == "ridge" else XGBFinal(d, files, columns)
            for o, d in doc["outcomes"].items()
        }

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        return {o: np.asarray(self.stage[o].predict(X), dtype=float) for o in OUTCOMES}


LEARNERS = {
    "constant": ConstantNumbers,
    "s": SNumbers,
    "t": TNumbers,
    "risk": RiskNumbers,
    "final": FinalNumbers,
}


@dataclass
class Reported:
    """One reported estimate: per outcome, learner weights and an offset (0 in exports
    without one); the learners' numbers."""

    weights: dict[str, dict[str, float]]
    learners: dict[str, object]
    offset: dict[str, float] | None = None

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        preds = {k: m.predict(X) for k, m in self.learners.items()}
        off = self.offset or {}
        return {
            o: off.get(o, 0.0) + sum(w * preds[k][o] for k, w in self.weights[o].items())
            for o in OUTCOMES
        }

    @classmethod
    def from_doc(cls, doc: dict, files: dict, columns: list[str], tau: float) -> Reported:
        learners = {}
        for key, d in doc["learners"].items():
            if d["type"] not in LEARNERS:
                raise ModelError(f"unknown benefit learner type {d['type']!r}")
            learners[key] = LEARNERS[d["type"]](d, files, columns, tau)
        weights = {o: {k: float(w) for k, w in doc["weights"][o].items()} for o in OUTCOMES}
        offset = {o: float(v) for o, v in doc.get("offset", {}).items()}
        return cls(weights, learners, offset)


@dataclass
class BenefitModel:
    """A benefit export: ``predict(X)`` and ``interval(X)`` on the feature columns (numpy)."""

    feature_columns: list[str]
    features: list[str] | None
    landmark_day: float
    horizon_days: float
    tau: float
    choices: dict  # {outcome: {kind, learner, method, weights, reason}}
    reported: Reported
    replicates: list[Reported]
    level: float
    background: dict
    unexplained: dict = field(default_factory=dict)  # {outcome: σ_u²}; empty: no widening
    shape: dict = field(default_factory=dict)  # {outcome: {"shape", "mean_r2"}} (`shaped_variance`)
    risk_model: SNumbers | None = None  # the baseline risk of a ``risk`` shape
    info: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    super_landmark: bool = False  # for `score.model_features`

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        return self.reported.predict(np.asarray(X, dtype=float))

    def interval(self, X: np.ndarray, estimate: dict | None = None):
        """``(lower, upper)`` per outcome: percentiles of the replicates' predictions,
        widened to contain ``estimate`` and, when the run made prediction intervals, by the
        heterogeneity its estimate leaves unexplained (`widen`); None without replicates."""
        if len(self.replicates) < 2:
            return None
        X = np.asarray(X, dtype=float)
        est = estimate if estimate is not None else self.predict(X)
        draws = [r.predict(X) for r in self.replicates]
        a = (1 - self.level) / 2
        risk = self.risk_model.control_risk(X) if self.risk_model is not None else {}
        lo, hi = {}, {}
        for o in OUTCOMES:
            arr = np.asarray([d[o] for d in draws])
            lo[o] = np.minimum(np.quantile(arr, a, axis=0), est[o])
            hi[o] = np.maximum(np.quantile(arr, 1 - a, axis=0), est[o])
            if o in self.unexplained:
                s2 = shaped_variance(self.unexplained[o], self.shape.get(o), risk.get(o))
                lo[o], hi[o] = widen(est[o], lo[o], hi[o], s2, self.level)
        return lo, hi


def widen(estimate, lower, upper, sigma2, level: float):
    """Prediction interval (`relapse_ml.benefit.prediction`): each side's half-width h
    becomes sqrt(h² + z² σ²), z the normal quantile of ``level``; ``sigma2`` one σ_u² for
    everyone or one per patient (`shaped_variance`)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    est = np.asarray(estimate, float)
    extra = z**2 * np.maximum(np.asarray(sigma2, float), 0.0)
    lo = est - np.sqrt((est - np.asarray(lower, float)) ** 2 + extra)
    hi = est + np.sqrt((np.asarray(upper, float) - est) ** 2 + extra)
    return lo, hi


def shaped_variance(sigma2: float, shape: dict | None, risk: np.ndarray | None):
    """Each patient's share of the unexplained variance σ_u² (`relapse_ml.benefit.prediction`):
    σ_u² for everyone without a shape; ``{"shape": "risk", "mean_r2": m}``: σ_u² r²/m, r the
    patient's baseline risk under control and m the mean of r² over the analysed patients."""
    if not shape or shape.get("shape", "constant") == "constant":
        return sigma2
    r = np.clip(np.asarray(risk, float), 0.0, 1.0)
    return sigma2 * r**2 / float(shape["mean_r2"])


def _checked_shape(shape: dict) -> dict:
    """An export's ``interval_shape``: per outcome ``constant``, or ``risk`` with a finite,
    positive ``mean_r2`` (ValueError otherwise, which `load_benefit` reports in one line).
    Returns the risk-shaped outcomes only."""
    out = {}
    for o, v in shape.items():
        if o not in OUTCOMES or v.get("shape") not in ("constant", "risk"):
            raise ValueError(f"interval_shape {o!r}: {v!r}")
        if v["shape"] == "risk":
            m = float(v["mean_r2"])
            if not (np.isfinite(m) and m > 0):
                raise ValueError(f"interval_shape {o!r}: mean_r2 {m!r}")
            out[o] = {"shape": "risk", "mean_r2": m}
    return out


def load_benefit(directory: str | os.PathLike) -> BenefitModel:
    """Verify (manifest checksums) and load a benefit export; `BundleError` (exit 2) if not."""
    d = Path(directory)
    if not d.is_dir():
        raise BundleError(
            f"--benefit {d}: no such directory; create a benefit export with {CREATE}"
        )
    _, files, digest = read_verified(d, FORMAT, READABLE_VERSIONS, "benefit export", CREATE)
    try:
        meta = json.loads(files["benefit.json"])
        columns = list(meta["feature_columns"])
        tau = float(meta["tau"])
        rep = Reported.from_doc(json.loads(files["reported.json"]), files, columns, tau)
        names = sorted(n for n in files if n.startswith("bootstrap/") and n.endswith(".json"))
        reps = [Reported.from_doc(json.loads(files[n]), files, columns, tau) for n in names]
        shape = _checked_shape(meta.get("interval_shape", {}))
        return BenefitModel(
            feature_columns=columns,
            features=meta["features"],
            landmark_day=float(meta["landmark_day"]),
            horizon_days=float(meta["horizon_days"]),
            tau=tau,
            choices=meta["choices"],
            reported=rep,
            replicates=reps,
            level=float(meta["level"]),
            background=meta["background"],
            unexplained={o: float(v) for o, v in meta.get("unexplained_variance", {}).items()},
            shape=shape,
            risk_model=(
                SNumbers(json.loads(files["shape/risk.json"]), files, columns, tau)
                if shape
                else None
            ),
            info=meta.get("info", {}),
            source={"kind": "benefit export", "ref": str(d), "sha256": digest},
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, ModelError) as err:
        raise BundleError(
            f"{d}: the benefit export's contents are not in the expected format "
            f"({type(err).__name__}: {err}); create it again with {CREATE}"
        ) from None
