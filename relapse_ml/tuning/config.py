"""Tuning configs: search spaces per model, the objective, honest validation, the study.

A search-space entry is a float or integer range (``low``, ``high``, optional ``log``
and ``step``) or a list of ``choices``. ``type`` may be omitted: ``choices`` make a
categorical, whole-number bounds an integer range, anything else a float range. Every
problem is a ConfigError line naming its key (``load_config(path, model=TuneConfig)``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from relapse_ml.config import (
    EvaluationConfig,
    LandmarkConfig,
    TrackingConfig,
    TrainConfig,
    _Strict,
)

# objective metric -> Optuna direction (the metric names of `relapse_ml.evaluation.evaluate`)
OBJECTIVES = {
    "ibs": "minimize",
    "c_index": "maximize",
    "c_index_ipcw": "maximize",
    "ipa_tau": "maximize",
}


class FloatRange(_Strict):
    """A float parameter drawn from [low, high], on a log scale when ``log``."""

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _check(self) -> FloatRange:
        _check_bounds(self.low, self.high, self.log)
        if self.step is not None:
            if not self.step > 0:
                raise ValueError(f"step must be > 0, got {self.step!r}")
            if self.log:
                raise ValueError("give either log: true or a step, not both")
        return self


class IntRange(_Strict):
    """An integer parameter drawn from low, low + step, ..., high."""

    type: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> IntRange:
        _check_bounds(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("log: true needs step 1")
        return self


class Choice(_Strict):
    """A categorical parameter: one of ``choices`` (numbers, strings, booleans or null)."""

    type: Literal["categorical"] = "categorical"
    choices: list[Any]

    @field_validator("choices")
    @classmethod
    def _scalars(cls, v: list) -> list:
        if not v:
            raise ValueError("choices is empty; give at least one value")
        bad = [c for c in v if not (c is None or isinstance(c, bool | int | float | str))]
        if bad:
            raise ValueError(f"choices must be numbers, strings, booleans or null; got {bad[0]!r}")
        if len({(type(c), c) for c in v}) != len(v):
            raise ValueError(f"choices has duplicates: {v}")
        return v


def _check_bounds(low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("low and high must be finite numbers")
    if not low < high:
        raise ValueError(
            f"low ({low:g}) must be below high ({high:g}); for a fixed value use 'params'"
        )
    if log and low <= 0:
        raise ValueError(f"log: true needs low > 0, got low = {low:g}")


def _kind(v: Any) -> str | None:
    """The search-space type, inferred when the entry does not say it."""
    if not isinstance(v, dict):
        return getattr(v, "type", None)
    if "type" in v:
        return v["type"]
    if "choices" in v:
        return "categorical"
    whole = all(
        isinstance(v.get(k), int) and not isinstance(v.get(k), bool) for k in ("low", "high")
    )
    return "int" if whole else "float"


SearchParam = Annotated[
    Annotated[FloatRange, Tag("float")]
    | Annotated[IntRange, Tag("int")]
    | Annotated[Choice, Tag("categorical")],
    Discriminator(
        _kind,
        custom_error_type="search_space_type",
        custom_error_message="type must be 'float', 'int' or 'categorical'",
    ),
]


class TunedModel(_Strict):
    """One model to tune: fixed ``params``, the ``search_space``, and the untuned ``baseline``.

    The baseline that the tuned parameters are compared with is ``params`` updated by
    ``baseline`` (library defaults for everything else).
    """

    name: Literal["aalen_johansen", "cox_cs", "fine_gray", "xgb_cs", "xgb_direct"]
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, SearchParam] = Field(default_factory=dict)
    baseline: dict[str, Any] = Field(default_factory=dict)  # the untuned comparison: params + these

    @property
    def display(self) -> str:
        return self.label or self.name

    @model_validator(mode="after")
    def _known_params(self) -> TunedModel:
        from relapse_ml.models import make_model

        defaults = make_model(self.name).get_params()
        for section, keys in (
            ("params", self.params),
            ("search_space", self.search_space),
            ("baseline", self.baseline),
        ):
            unknown = sorted(set(keys) - set(defaults))
            if unknown:
                raise ValueError(
                    f"{section}.{unknown[0]}: model '{self.name}' has no parameter "
                    f"'{unknown[0]}'; it takes: {', '.join(sorted(defaults)) or 'none'}"
                )
        both = sorted(set(self.params) & set(self.search_space))
        if both:
            raise ValueError(f"search_space.{both[0]}: also fixed in params; keep it in one place")
        for key, space in self.search_space.items():
            default = defaults[key]
            whole = isinstance(default, int) and not isinstance(default, bool)
            if whole and isinstance(space, FloatRange):
                raise ValueError(
                    f"search_space.{key}: '{self.name}' takes a whole number here; "
                    "use whole-number bounds or type: int"
                )
        return self


def default_model() -> TunedModel:
    """Cause-specific XGBoost over the usual boosting knobs (early stopping picks the rounds)."""
    return TunedModel(
        name="xgb_cs",
        params={"n_estimators": 500, "n_jobs": 1},
        search_space={
            "learning_rate": FloatRange(low=0.01, high=0.3, log=True),
            "max_depth": IntRange(low=1, high=5),
            "min_child_weight": FloatRange(low=1, high=30, log=True),
            "subsample": FloatRange(low=0.5, high=1.0),
            "colsample_bytree": FloatRange(low=0.3, high=1.0),
            "reg_lambda": FloatRange(low=0.1, high=30, log=True),
        },
    )


class ValidationConfig(_Strict):
    """How the tuned model is judged on data the search never saw."""

    method: Literal["holdout", "nested"] = "holdout"
    holdout_fraction: float = Field(
        0.25, gt=0, lt=0.9
    )  # share of patients held out (method holdout)
    outer_folds: int = Field(3, ge=2, le=20)  # method nested: one study per outer fold
    seed: int = 0


class StudyConfig(_Strict):
    """The Optuna study: budget, sampler seed, pruner, storage, heartbeat."""

    name: str | None = None  # default: the config's name
    storage: str | None = None  # default: sqlite:///optuna.db in the working directory
    n_trials: int = Field(30, ge=1, le=100000)  # finished trials the study should hold
    timeout: float | None = Field(None, gt=0)  # seconds per invocation
    seed: int = 0
    pruner: Literal["median", "successive_halving", "none"] = "median"
    sampler_startup_trials: int = Field(10, ge=1)  # random trials before TPE models the results
    pruner_startup_trials: int = Field(
        5, ge=0
    )  # median: trials run to the end before pruning starts
    reduction_factor: int = Field(3, ge=2)  # successive halving
    heartbeat_interval: int | None = Field(30, ge=1)  # seconds; None: no heartbeat
    grace_period: int | None = Field(None, ge=1)  # default: 2 x heartbeat_interval
    max_retry: int = Field(1, ge=0)  # re-runs of a trial whose worker died
    max_consecutive_failures: int = Field(
        3, ge=1
    )  # a worker stops after this many failures in a row

    @model_validator(mode="after")
    def _grace(self) -> StudyConfig:
        if (
            self.grace_period is not None
            and self.heartbeat_interval is not None
            and self.grace_period <= self.heartbeat_interval
        ):
            raise ValueError(
                f"grace_period ({self.grace_period}) must exceed heartbeat_interval "
                f"({self.heartbeat_interval}), or live workers' trials are failed"
            )
        return self


class TuneConfig(_Strict):
    """A tuning campaign: data, landmark, features, models with search spaces, study, tracking.

    ``evaluation`` is the training config's section: its ``n_splits``/``n_repeats``/``seed``
    define the inner cross-validation (on the training part only), ``times`` the grid,
    ``horizons`` the predictor's outputs and ``n_boot`` the hold-out intervals.
    """

    name: str = "tune"
    data: str | None = None
    landmark: LandmarkConfig = Field(default_factory=LandmarkConfig)
    features: list[str] | None = None
    models: list[TunedModel] = Field(default_factory=lambda: [default_model()], min_length=1)
    objective: Literal["ibs", "c_index", "c_index_ipcw", "ipa_tau"] = "ibs"
    evaluation: EvaluationConfig = Field(default_factory=lambda: EvaluationConfig(n_splits=3))
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    study: StudyConfig = Field(default_factory=StudyConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="after")
    def _check(self) -> TuneConfig:
        labels = [m.display for m in self.models]
        if len(set(labels)) != len(labels):
            raise ValueError("two models share a name; give each a distinct 'label'")
        if self.tracking.final_model is not None:
            raise ValueError(
                "tracking.final_model: not used when tuning (the best trial is the final model)"
            )
        return self

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    @property
    def study_name(self) -> str:
        return self.study.name or self.name

    def train_config(self, model: TunedModel, params: dict | None = None) -> TrainConfig:
        """The training config of one model and parameter set, for the training pipeline's helpers."""
        from relapse_ml.config import ModelSpec

        return TrainConfig(
            name=self.name,
            data=self.data,
            landmark=self.landmark,
            features=self.features,
            models=[
                ModelSpec(
                    name=model.name, label=model.display, params={**model.params, **(params or {})}
                )
            ],
            evaluation=self.evaluation,
            tracking=self.tracking,
        )
