"""Benefit learners on competing-risk base models, cross-fitted so that no patient's estimate
uses that patient's own outcome.

Benefit at horizon τ (days from the landmark) = risk under control − risk under sorafenib,
for relapse (cause-1 incidence) and for relapse or death (1 − relapse-free survival):
positive means fewer events on sorafenib.

* S-learner: one model with ``arm`` as a feature (plus arm × feature columns for linear
  models), predicted with the arm set to 0 and to 1.
* T-learner: one model per arm.
* DR-learner: T-learner risks μ̂_a as nuisance, IPCW pseudo-outcomes φ (`pseudo.py`), and a
  regression of φ on x. Cross-fitting is nested: the estimate for a patient in fold k comes
  from a final regression fitted on the other folds, whose pseudo-outcomes use nuisance
  models fitted without fold k as well (pairwise exclusion: the model for the rows of fold
  j excludes folds j and k) and a censoring Kaplan–Meier without fold k. The fits for each
  excluded pair are memoised, so K folds cost K(K+1)/2 nuisance fits per arm, not K².
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, TreatmentConfig
from relapse_ml.benefit.folds import make_folds  # noqa: F401  (re-exported)
from relapse_ml.benefit.learner_specs import KEY_INTERACTIONS, FinalStage, LearnerSpec
from relapse_ml.errors import ConfigError, ModelError

LINEAR_MODELS = ("cox_cs", "fine_gray")
ARM = "arm"


# -- base arm-risk models -------------------------------------------------------------------
def risks_at(model, X: pd.DataFrame, tau: float) -> dict[str, np.ndarray]:
    """A fitted competing-risk model's relapse incidence and 1 − RFS at ``tau``."""
    cif = model.predict_cumulative_incidence(X, [tau])[:, :, 0]
    return {"relapse": cif[:, 1], "rfs": 1.0 - cif[:, 0]}


class TLearner:
    """One competing-risk model per arm; ``predict`` gives risks under both arms.

    make_model: a zero-argument factory of an unfitted `relapse_ml.models` model.
    """

    def __init__(self, make_model: Callable, tau: float):
        self.make_model = make_model
        self.tau = tau

    def fit(self, X: pd.DataFrame, time, event, arm) -> TLearner:
        arm = np.asarray(arm)
        self.models_ = {}
        for a in (0, 1):
            rows = arm == a
            self.models_[a] = self.make_model().fit(X.loc[rows], time[rows], event[rows])
        return self

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """``{outcome: (n, 2)}``: risk at tau under control (column 0) and sorafenib (1)."""
        r0, r1 = (risks_at(self.models_[a], X, self.tau) for a in (0, 1))
        return {o: np.c_[r0[o], r1[o]] for o in OUTCOMES}


class SLearner:
    """One competing-risk model with the arm as a feature (and arm × feature columns).

    interactions: columns multiplied by the arm after median imputation and centring at
    the training mean, so the arm's main effect is the effect at the average patient.
    """

    def __init__(self, make_model: Callable, tau: float, interactions: list[str] | None = None):
        self.make_model = make_model
        self.tau = tau
        self.interactions = interactions or []

    def _design(self, X: pd.DataFrame, arm) -> pd.DataFrame:
        D = X.copy()
        D[ARM] = np.asarray(arm, dtype=float)
        if self.interactions:
            filled = X[self.interactions].fillna(self.median_) - self.mean_
            inter = filled.to_numpy(float) * D[ARM].to_numpy()[:, None]
            D[[f"{ARM}_x_{c}" for c in self.interactions]] = inter
        return D

    def fit(self, X: pd.DataFrame, time, event, arm) -> SLearner:
        if self.interactions:
            sub = X[self.interactions]
            self.median_ = sub.median().fillna(0.0)
            self.mean_ = sub.fillna(self.median_).mean()
        self.model_ = self.make_model().fit(self._design(X, arm), time, event)
        return self

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        r0, r1 = (
            risks_at(self.model_, self._design(X, np.full(len(X), a)), self.tau) for a in (0, 1)
        )
        return {o: np.c_[r0[o], r1[o]] for o in OUTCOMES}


def arm_risk_factory(
    spec: LearnerSpec, tau: float, columns: list[str], scale: float | None = None
) -> Callable:
    """A factory of unfitted arm-risk learners: S, T (also the DR/R nuisance), constant
    (Aalen–Johansen per arm) or PATH risk-based. scale: the S-learner's interaction scale
    (`effect_learners.ShrunkFineGray`), for a learner with ``shrink``."""
    from relapse_ml.benefit import effect_learners as EL
    from relapse_ml.models import make_model

    if spec.kind == "constant":
        return lambda: EL.ConstantLearner(tau)
    params = dict(spec.model.params)
    if spec.kind == "risk":
        pen = params.get("penalizer", 0.1)  # a number, or auto / auto_1se (`models.penalty`)
        make_model("fine_gray", penalizer=pen).validate()  # fail fast on a bad value
        return lambda: EL.RiskBasedLearner(tau, pen)
    if spec.model.name == "xgb_direct":
        params.setdefault("horizon", tau)
    make_model(spec.model.name, **params)  # fail fast on a bad parameter

    def make_base():
        if scale is not None:
            return EL.ShrunkFineGray(scale=scale, **params)
        return make_model(spec.model.name, **params)

    if spec.kind != "s":
        return lambda: TLearner(make_base, tau)
    inter: list[str] = []
    if spec.model.name in LINEAR_MODELS:
        if spec.interactions == "all":
            inter = list(columns)
        elif spec.interactions == "key":
            inter = [c for c in KEY_INTERACTIONS if c in columns]
        else:
            inter = list(spec.interactions)
        unknown = [c for c in inter if c not in columns]
        if unknown:
            raise ConfigError(
                f"learner {spec.display}: interactions name unknown feature "
                f"column(s) {unknown[:5]}; columns are: {', '.join(columns)}"
            )
    return lambda: SLearner(make_base, tau, inter)


# -- folds and memoised fits ----------------------------------------------------------------
class FoldFits:
    """Arm-risk models fitted without some folds, memoised by the set of excluded folds."""

    def __init__(self, make: Callable, X: pd.DataFrame, time, event, arm, folds):
        self.make, self.X, self.time, self.event = make, X, time, event
        self.arm, self.folds = np.asarray(arm), np.asarray(folds)
        self._fits: dict[frozenset, object] = {}
        self.propensity_cache: dict[frozenset, object] = {}

    def model(self, excluded: frozenset):
        if excluded not in self._fits:
            rows = ~np.isin(self.folds, list(excluded))
            self._check(rows, excluded)
            self._fits[excluded] = self.make().fit(
                self.X.loc[rows], self.time[rows], self.event[rows], self.arm[rows]
            )
        return self._fits[excluded]

    def _check(self, rows: np.ndarray, excluded: frozenset) -> None:
        for a, name in ((0, "control"), (1, "sorafenib")):
            sel = rows & (self.arm == a)
            if not (self.event[sel] == 1).any():
                raise ModelError(
                    f"no relapse in the {name} arm after leaving out fold(s) "
                    f"{sorted(excluded)}: too few events to cross-fit; use fewer folds "
                    "(crossfit.n_folds) or more data"
                )

    def out_of_fold(self, extra: frozenset = frozenset(), rows=None) -> dict[str, np.ndarray]:
        """Risks under both arms for every row (or ``rows``), each from a model fitted
        without the row's own fold and without the folds in ``extra``."""
        n = len(self.folds)
        rows = np.ones(n, bool) if rows is None else rows
        out = {o: np.full((n, 2), np.nan) for o in OUTCOMES}
        for j in np.unique(self.folds[rows]):
            sel = rows & (self.folds == j)
            pred = self.model(frozenset({int(j)}) | extra).predict(self.X.loc[sel])
            for o in OUTCOMES:
                out[o][sel] = pred[o]
        return out


# -- the DR learner -------------------------------------------------------------------------
def normal_scores(u):
    """Uniform scores (0..1) to the normal scale, clipped as scikit-learn's
    ``QuantileTransformer(output_distribution="normal")`` clips them (at the 1e-7 tails)."""
    from scipy.special import ndtri

    eps = 1e-7 - np.spacing(1)
    return ndtri(np.clip(np.asarray(u, dtype=float), eps, 1 - eps))


def make_final(final: FinalStage, seed: int):
    """An unfitted regressor of the pseudo-outcome on the features."""
    if final.name == "ridge":
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, QuantileTransformer, StandardScaler

        alphas = final.params.get("alphas", np.logspace(-1, 5, 25))
        # gcv_mode "svd": one SVD of the (n, p) design serves every alpha (the default
        # "eigen" path costs O(n) per alpha and dominated the bootstrap)
        # normal scores, not raw values: MRD % and WT1 are heavy-tailed, and a linear
        # fit on them extrapolates one extreme patient to an impossible benefit. The
        # quantile transform gives uniform scores and `normal_scores` maps them to the
        # normal scale in one vectorised call (QuantileTransformer's own "normal" output
        # calls scipy.stats.norm.ppf once per column, which dominated the bootstrap).
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            QuantileTransformer(n_quantiles=30, output_distribution="uniform"),
            FunctionTransformer(normal_scores),
            StandardScaler(),
            RidgeCV(alphas=alphas, gcv_mode="svd"),
        )
    from xgboost import XGBRegressor

    params = {
        "n_estimators": 100,
        "max_depth": 2,
        "learning_rate": 0.05,
        "min_child_weight": 10,
        "subsample": 0.8,
        "n_jobs": 1,
        "random_state": seed,
        **final.params,
    }
    return XGBRegressor(**params)


def dr_fit_final(
    fits: FoldFits,
    tau: float,
    final: FinalStage,
    treatment: TreatmentConfig,
    seed: int,
    excluded: frozenset = frozenset(),
    kind: str = "dr",
) -> dict[str, object]:
    """Final regressions (one per outcome) on the rows outside ``excluded`` folds, their
    pseudo-outcomes built from nuisance fits that also exclude ``excluded``.

    kind ``dr``: regress the DR score φ on x. ``r`` (R-learner, Nie & Wager 2021): minimise
    Σ ((Y* − m̂) + (a − ê) b(x))², m̂ = ê μ̂_1 + (1 − ê) μ̂_0, b the benefit (minus the
    effect on risk), i.e. regress −(Y* − m̂)/(a − ê) on x with weights (a − ê)².
    """
    from relapse_ml.benefit.yardstick import pseudo_targets

    rows = ~np.isin(fits.folds, list(excluded))
    targets, _ = pseudo_targets(fits, tau, treatment, rows=rows, extra=excluded)
    models = {}
    for o in OUTCOMES:
        p = targets[o]
        model = make_final(final, seed)
        if kind == "r":
            resid_a = p["arm"] - p["e"]
            target = -(p["y"] - p["m"]) / resid_a  # benefit = −effect on risk
            models[o] = fit_weighted(model, fits.X.loc[rows], target, resid_a**2)
        else:
            models[o] = model.fit(fits.X.loc[rows], p["phi"])
    return models


def fit_weighted(model, X: pd.DataFrame, y, weight):
    """Fit a final stage (ridge pipeline or XGBoost regressor) with sample weights."""
    if hasattr(model, "steps"):
        return model.fit(X, y, **{f"{model.steps[-1][0]}__sample_weight": weight})
    return model.fit(X, y, sample_weight=weight)


# -- estimates ------------------------------------------------------------------------------
@dataclass
class BenefitEstimates:
    """Cross-fitted benefit of one learner, per outcome (``relapse``, ``rfs``).

    risk: ``{outcome: (n, 2)}`` risks under control / sorafenib (S and T learners; NaN for
    DR, which models the difference only). lower/upper: bootstrap interval, when asked.
    """

    label: str
    kind: str
    benefit: dict[str, np.ndarray]
    risk: dict[str, np.ndarray]
    lower: dict[str, np.ndarray] = field(default_factory=dict)
    upper: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # e.g. a shrunk S-learner's scale on all data


def cross_fit(
    spec: LearnerSpec,
    X: pd.DataFrame,
    time,
    event,
    arm,
    folds,
    tau: float,
    treatment: TreatmentConfig,
    seed: int = 0,
    cache: dict | None = None,
) -> BenefitEstimates:
    """Out-of-fold benefit estimates of one learner (module docstring for the DR nesting).

    cache: a dict shared across learners so that identical nuisance fits are reused.
    """
    fits = fold_fits(spec, X, time, event, arm, folds, tau, cache)
    n = len(folds)
    if spec.kind not in ("dr", "r"):
        risk = fits.out_of_fold()
        return BenefitEstimates(
            spec.display, spec.kind, {o: risk[o][:, 0] - risk[o][:, 1] for o in OUTCOMES}, risk
        )
    benefit = {o: np.full(n, np.nan) for o in OUTCOMES}
    for k in np.unique(folds):
        models = dr_fit_final(
            fits, tau, spec.final, treatment, seed, frozenset({int(k)}), spec.kind
        )
        sel = folds == k
        for o in OUTCOMES:
            benefit[o][sel] = models[o].predict(X.loc[sel])
    nan = {o: np.full((n, 2), np.nan) for o in OUTCOMES}
    return BenefitEstimates(spec.display, spec.kind, benefit, nan)


def fold_fits(
    spec: LearnerSpec, X, time, event, arm, folds, tau, cache=None, scale=None
) -> FoldFits:
    """The memoised fold fits of a learner's arm-risk model (shared through ``cache``).
    scale: the interaction scale of a shrunk S-learner (one set of fits per scale)."""
    key = (
        spec.kind if spec.kind in ("s", "constant", "risk") else "t",
        spec.model.model_dump_json(),
        spec.interactions if spec.kind == "s" else None,
        scale,
    )
    key = repr(key)
    if cache is not None and key in cache:
        return cache[key]
    fits = FoldFits(arm_risk_factory(spec, tau, list(X.columns), scale), X, time, event, arm, folds)
    if cache is not None:
        cache[key] = fits
    return fits
