"""The benefit analysis config (``configs/benefit.yaml``), validated by pydantic.

Unknown keys are errors naming the key (``relapse_ml.config.parse_config``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from relapse_ml.benefit.learner_specs import (
    LearnerSpec,
    default_learners,
    default_nuisance,
    small_xgb,
)
from relapse_ml.config import ModelSpec, _Strict

# post-randomization exposure: flipping the arm would pair it with an impossible exposure
FORBIDDEN_FEATURES = ("sorafenib_days", "treatment")
OUTCOMES = ("relapse", "rfs")  # relapse CIF, and relapse-or-death (1 - relapse-free survival)
DEFAULT_SHAPE = {"relapse": "risk", "rfs": "constant"}  # `IntervalConfig.shape`


class BenefitLandmark(_Strict):
    """Landmark day L (the trial randomizes by day 60) and the horizon counted from L."""

    landmark_day: float = Field(60, ge=0, le=4000)
    horizon_days: float = Field(730, gt=0, le=4000)


class CrossFitConfig(_Strict):
    """Folds for cross-fitting (stratified by arm and outcome) and the seed of everything."""

    n_folds: int = Field(5, ge=2, le=20)
    seed: int = 0


class TreatmentConfig(_Strict):
    """How the arm was assigned: ``randomized`` uses the known probability; ``observational``
    estimates it (cross-fitted logistic regression, clipped to [clip, 1 - clip])."""

    assignment: Literal["randomized", "observational"] = "randomized"
    probability: float = Field(0.5, gt=0, lt=1)
    clip: float = Field(0.05, gt=0, lt=0.5)


class IntervalConfig(_Strict):
    """Per-patient intervals of the reported estimate: a bootstrap by patient (within arm)
    that re-runs every data-driven choice — cross-fitting of the candidates, the yardstick,
    the selection (or stacking weights), the S-learner's shrinkage — and refits.

    n_folds: cross-fitting folds inside each replicate (fewer than ``crossfit.n_folds`` to
    keep the bootstrap cheap). candidates: the learners each replicate chooses among (None:
    the cheap ones — constant, risk-based, Fine–Gray S-learners without tuned shrinkage,
    R/DR learners with a ridge final stage); the learners the analysis itself chose are
    always added, so the replicates re-run the choice that was made.
    learners: extra learners that also get a (fixed-learner) bootstrap interval, for
    comparison; None: none.
    n_jobs: worker processes for the replicates (joblib; 1 = in this process).
    The results do not depend on it: each replicate's rows and seed are drawn first.
    prediction: widen each interval by the heterogeneity the reported estimate leaves
    unexplained (`benefit.prediction`), so that it aims at the patient's own benefit; False:
    the interval of the estimate only.
    shape: per outcome, how that unexplained variance σ_u² is spread over patients —
    ``constant`` (the same for everyone) or ``risk`` (proportional to the square of the
    patient's baseline risk under control, σ_u² r²/mean r², the mean over the analysed
    patients: a multiplicative latent burden). One word sets both outcomes. Default: ``risk``
    for relapse, ``constant`` for relapse or death — the rule chosen before its trials and
    measured in ``experiments/benefit_interval_shape.py`` (docs/benefit.md).
    """

    n_boot: int = Field(50, ge=0, le=2000)
    level: float = Field(0.95, gt=0.5, lt=1)
    n_folds: int = Field(3, ge=2, le=20)
    candidates: list[str] | None = None
    learners: list[str] | None = None
    n_jobs: int = Field(2, ge=1, le=64)
    prediction: bool = True
    shape: dict[Literal["relapse", "rfs"], Literal["constant", "risk"]] = Field(
        default_factory=lambda: dict(DEFAULT_SHAPE)
    )

    @field_validator("shape", mode="before")
    @classmethod
    def _one_word_both(cls, v):
        if isinstance(v, str):
            return {o: v for o in OUTCOMES}
        if isinstance(v, dict):
            return {**DEFAULT_SHAPE, **v}
        return v


class ReportConfig(_Strict):
    """The one reported estimate, chosen by the cross-fitted τ-risk (the yardstick).

    method ``select``: the learner with the lowest τ-risk, but only if it beats the
    constant (average-effect) learner by a one-sided paired z-test at ``alpha`` / (number of
    other candidates) — it was picked as the minimum; otherwise the risk-based learner if
    *it* beats the constant at ``alpha``, else the constant. ``stack``: a convex combination
    of the stack candidates minimising the cross-fitted τ-risk. ``auto`` (default):
    ``stack`` for an outcome with at least ``min_events`` events by the horizon among the
    patients analysed, ``few_events`` below — with fewer events the τ-risk cannot tell the
    stack's gains from its over-fitting (docs/benefit.md; README's individual-benefit study).
    candidates: learner labels (None: every configured learner); the constant learner is
    always considered. stack_candidates: the labels a stack combines (None: the candidates
    except T-learners and boosted final stages — less accurate than the average at every
    size in simulation, their noise spoils the weights — and S-learners with a tuned
    shrinkage, whose job the stack's weight between the S-learner and the one without
    interactions does without re-tuning in every bootstrap replicate).
    The guards of a stack (`benefit.stacking`; docs/benefit.md, measured in
    ``experiments/benefit_stack_variants.py``): stack_test ``nested`` (default): the stack
    is reported only if its nested cross-fitted τ-risk (weights for each fold fitted on the
    other folds) beats that of the estimate it would replace (``stack_against``) by more than
    ``stack_z`` (2) standard errors, else the damped estimate below (``stack_floor: average``:
    the average effect); ``slope``:
    if the slope of φ on those nested values exceeds ``stack_z`` robust SE (more power; not
    adopted: at z 3 it let a null trial through at n = 1,000, docs/benefit.md); ``none``: always.
    stack_against: what the nested test compares the stack with — ``floor`` (default since
    stop 28: what would be reported instead, the damped risk-based estimate below, out of
    fold, when ``stack_floor: damped``; else the average) or ``average`` (the constant
    learner; the rule before). Against the average a stack that ranks nothing could pass where
    the risk-based floor was better than both (`experiments/benefit_gate_rules.py`).
    shrink: multiply the stack's deviation from its mean by its cross-fitted calibration
    slope clipped to [0, 1]. centre ``average``: move the stack's
    mean to the trial's average effect (the constant learner); ``stack``: keep its own.
    few_events (``auto`` below ``min_events``): ``damped`` (default) — the trial's average
    plus ``damped_weight`` × the deviation of ``damped_learner``'s estimate from its own mean
    (method ``damped`` at any size); ``select`` — the rule before. The default learner, the
    S-learner without arm interactions, lets benefit follow baseline risk; with weight 0.2
    it ranked patients (ρ 0.27 against the careful Cox S-learner's 0.09 at n = 346) within
    1.05 × the average's RMSE and 0.005 of it under the null, on both outcomes
    (``experiments/benefit_stack_rules.py``). A ``damped_learner`` that is not among the
    candidates falls back to ``select``.
    stack_floor ``damped`` (default): a stack that fails the nested test, is the constant
    alone or shrinks to slope 0 is replaced by the damped estimate (``average``: the bare
    average). From ``min_events`` events on its weight is E / (E + ``damped_events``) (E the
    outcome's events; 180 since stop 29: 0.53 at 200 events, 0.82 at ~800; 360 before, the
    value that gives the validated 0.2 at the trial's ~90 relapse events; None:
    ``damped_weight`` at every size). With the gate at 2 SE no null trial was worse than the
    average by 0.005 at n = 1,000 or 3,000 (docs/benefit.md, "Above 200 events"; 180 chosen
    by a rule stated before its trials, ``experiments/benefit_floor_learner.py``).
    """

    method: Literal["select", "stack", "auto", "damped"] = "auto"
    candidates: list[str] | None = None
    stack_candidates: list[str] | None = None
    min_events: int = Field(200, ge=1)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    stack_test: Literal["none", "nested", "slope"] = "nested"
    stack_z: float = Field(2.0, ge=0, le=5)
    stack_against: Literal["average", "floor"] = "floor"
    shrink: bool = True
    centre: Literal["average", "stack"] = "average"
    few_events: Literal["select", "damped"] = "damped"
    stack_floor: Literal["average", "damped"] = "damped"
    damped_learner: str = "s_fg_risk"
    damped_weight: float = Field(0.2, ge=0, le=1)
    damped_events: float | None = Field(180.0, gt=0)


class HeterogeneityConfig(_Strict):
    """Evaluation without truth: RATE/AUTOC tests, calibration groups, PATH quartiles.

    rate_se: standard error of AUTOC / Qini given the ranking — ``linear`` (closed form) or
    ``bootstrap`` (kept for comparison: too narrow in small test folds).

    nuisance: the T-learner whose cross-fitted risks enter the DR scores used to judge
    every learner (and whose risk under control defines the PATH baseline risk).
    sequential_folds / first_test_fold: the heterogeneity test trains on folds 0..k-1 and
    tests fold k, for k = first_test_fold .. sequential_folds - 1 (sequential validation).
    """

    rate_se: Literal["linear", "bootstrap"] = "linear"
    n_boot: int = Field(500, ge=0, le=20000)  # c-for-benefit interval; AUTOC if "bootstrap"
    n_groups: int = Field(5, ge=2, le=20)
    risk_groups: int = Field(4, ge=2, le=10)
    nuisance: ModelSpec = Field(default_factory=default_nuisance)
    sequential_folds: int = Field(5, ge=2, le=20)
    first_test_fold: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _folds(self) -> HeterogeneityConfig:
        if self.first_test_fold >= self.sequential_folds:
            raise ValueError("first_test_fold must be smaller than sequential_folds")
        return self


DEFAULT_SUBGROUPS = (
    "mrd_detectable",
    "chimerism",
    "agvhd_by_landmark",
    "disease_status",
    "cytogenetic_risk",
    "donor_type",
    "conditioning",
    "age_band",
)


class ExploratoryConfig(_Strict):
    """Honest discovery: a shallow tree on one half's benefit estimates, tested on the other."""

    enabled: bool = True
    max_depth: int = Field(2, ge=1, le=4)
    min_leaf_fraction: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 1


class SubgroupConfig(_Strict):
    """Pre-specified subgroups (names from ``relapse_ml.benefit.subgroups.SUBGROUPS``).

    min_per_arm / min_events: below either, a subgroup level gets a "too small" warning.
    """

    names: list[str] = Field(default_factory=lambda: list(DEFAULT_SUBGROUPS))
    min_per_arm: int = Field(20, ge=1)
    min_events: int = Field(10, ge=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    exploratory: ExploratoryConfig = Field(default_factory=ExploratoryConfig)

    @field_validator("names")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from relapse_ml.benefit.subgroups import SUBGROUPS

        unknown = [n for n in v if n not in SUBGROUPS]
        if unknown:
            raise ValueError(
                f"unknown subgroup(s) {', '.join(map(repr, unknown))}; allowed: "
                + ", ".join(SUBGROUPS)
            )
        if len(set(v)) != len(v):
            raise ValueError("a subgroup is listed twice")
        return v


class ExplainConfig(_Strict):
    """SHAP: a tree surrogate of the primary learner's benefit, and the relapse-risk model."""

    enabled: bool = True
    top_features: int = Field(4, ge=1, le=20)
    n_patients: int = Field(3, ge=0, le=50)  # per-patient explanations (saved only on request)
    surrogate: dict[str, Any] = Field(
        default_factory=lambda: {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05}
    )
    risk_model: ModelSpec = Field(default_factory=small_xgb)


class BenefitTracking(_Strict):
    """Where runs go. ``tracking_uri`` None: $MLFLOW_TRACKING_URI, else ./mlruns.db (SQLite)."""

    experiment: str = "relapse-ml"
    tracking_uri: str | None = None


class BenefitConfig(_Strict):
    """Who benefits from sorafenib: learners, heterogeneity checks, SHAP, subgroups."""

    name: str = "benefit"
    data: str | None = None  # cohort directory; None: the embedded demo cohort
    landmark: BenefitLandmark = Field(default_factory=BenefitLandmark)
    features: list[str] | None = None  # None: the default feature set (arm is handled apart)
    learners: list[LearnerSpec] = Field(default_factory=default_learners)
    # the learner whose sequential AUTOC is the pre-specified test, explained by SHAP and
    # used for discovery; None: the first learner
    primary: str | None = None
    crossfit: CrossFitConfig = Field(default_factory=CrossFitConfig)
    treatment: TreatmentConfig = Field(default_factory=TreatmentConfig)
    intervals: IntervalConfig = Field(default_factory=IntervalConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    heterogeneity: HeterogeneityConfig = Field(default_factory=HeterogeneityConfig)
    subgroups: SubgroupConfig = Field(default_factory=SubgroupConfig)
    explain: ExplainConfig = Field(default_factory=ExplainConfig)
    tracking: BenefitTracking = Field(default_factory=BenefitTracking)

    @field_validator("features")
    @classmethod
    def _no_exposure(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [f for f in v if f in FORBIDDEN_FEATURES]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} measure(s) exposure after randomization and would bias a "
                "benefit estimate; remove them (the arm is used on its own)"
            )
        return v

    @model_validator(mode="after")
    def _check(self) -> BenefitConfig:
        if not self.learners:
            raise ValueError("learners: give at least one learner")
        labels = [spec.display for spec in self.learners]
        if len(set(labels)) != len(labels):
            raise ValueError("learners: two learners share a name; give each a distinct 'label'")
        if self.primary is not None and self.primary not in labels:
            raise ValueError(
                f"primary {self.primary!r} is not one of the learners: " + ", ".join(labels)
            )
        named = (
            (self.intervals.learners or [])
            + (self.report.candidates or [])
            + (self.intervals.candidates or [])
        )
        for name in named:
            if name not in labels:
                raise ValueError(
                    f"intervals.learners / candidates, report.candidates: {name!r} is not one of the "
                    "learners: " + ", ".join(labels)
                )
        return self

    @property
    def primary_label(self) -> str:
        """The primary learner: ``primary``, else the first one listed."""
        return self.primary or self.learners[0].display

    def learner(self, label: str) -> LearnerSpec:
        return next(s for s in self.learners if s.display == label)

    @property
    def tau(self) -> float:
        """Horizon read at H - 0.5 day: the landmark data are censored at exactly H."""
        return float(self.landmark.horizon_days) - 0.5
