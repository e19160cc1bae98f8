"""Experiment configs: YAML validated by pydantic (an unknown key is an error naming it)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from relapse_ml.errors import ConfigError

MODEL_NAMES = ("aalen_johansen", "cox_cs", "fine_gray", "trajectory", "xgb_cs", "xgb_direct")
DEFAULTS_FILE = Path(__file__).with_name("default_config.yaml")  # configs/default.yaml links here


@functools.cache
def _packaged_defaults() -> dict:
    import yaml

    return yaml.safe_load(DEFAULTS_FILE.read_text())


def default(*keys: str):
    """The value of ``keys`` in the packaged default config (a fresh copy)."""
    value = _packaged_defaults()
    for k in keys:
        value = value[k]
    return copy.deepcopy(value)


def _from_defaults(*keys: str):
    return Field(default_factory=lambda: default(*keys))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LandmarkConfig(_Strict):
    """Landmark day L, horizon H counted from L, and the super-landmark option.

    The default trains one model on the stacked landmarks (``super_landmark: true``), valid
    at every visit from the first to the last of ``landmarks``. A config that names its own
    ``landmark_day`` without saying ``super_landmark`` asks for that one landmark: it trains
    there (the one exception to "missing keys come from the defaults").
    """

    landmark_day: float = Field(default_factory=lambda: default("landmark", "landmark_day"),
                                ge=0, le=4000)
    horizon_days: float = Field(default_factory=lambda: default("landmark", "horizon_days"),
                                gt=0, le=4000)
    super_landmark: bool = _from_defaults("landmark", "super_landmark")
    landmarks: list[float] = _from_defaults("landmark", "landmarks")

    @model_validator(mode="before")
    @classmethod
    def _named_day_means_one_landmark(cls, data):
        if isinstance(data, dict) and "landmark_day" in data and "super_landmark" not in data:
            data = {**data, "super_landmark": False}
        return data

    @field_validator("landmarks")
    @classmethod
    def _sorted_unique(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one landmark day")
        if any(x < 0 for x in v):
            raise ValueError("landmark days must be >= 0")
        return sorted(set(v))


class ModelSpec(_Strict):
    """One competing-risk model: its registry name and keyword parameters."""

    name: Literal["aalen_johansen", "cox_cs", "fine_gray", "trajectory", "xgb_cs", "xgb_direct",
                  "stack"]
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @property
    def display(self) -> str:
        return self.label or self.name


class EvaluationConfig(_Strict):
    """Cross-validation and metric settings."""

    n_splits: int = Field(default_factory=lambda: default("evaluation", "n_splits"), ge=2, le=20)
    n_repeats: int = Field(default_factory=lambda: default("evaluation", "n_repeats"), ge=1, le=50)
    n_boot: int = Field(default_factory=lambda: default("evaluation", "n_boot"), ge=0, le=10000)
    # whose pooled metrics get bootstrap intervals: the final model's only, or every candidate's
    intervals: Literal["final", "all"] = _from_defaults("evaluation", "intervals")
    seed: int = _from_defaults("evaluation", "seed")
    times: list[float] | None = _from_defaults("evaluation", "times")  # days from the landmark
    horizons: list[float] = _from_defaults("evaluation", "horizons")
    n_jobs: int = Field(default_factory=lambda: default("evaluation", "n_jobs"), ge=-1)


class TrackingConfig(_Strict):
    """Where runs go, what is registered, and the registration guard.

    ``tracking_uri`` None: $MLFLOW_TRACKING_URI, else ./mlruns.db (SQLite). The guard
    refuses to register a final model whose cross-validated IPA is below ``min_ipa`` or whose
    mean predicted relapse incidence at the horizon is off the Aalen–Johansen estimate by more
    than max(``max_incidence_gap``, ``max_incidence_gap_relative`` × the estimate).
    """

    experiment: str = _from_defaults("tracking", "experiment")
    tracking_uri: str | None = _from_defaults("tracking", "tracking_uri")
    register_as: str | None = _from_defaults("tracking", "register_as")
    final_model: str | None = _from_defaults("tracking", "final_model")  # None: best CV IPA
    log_model: bool = _from_defaults("tracking", "log_model")
    min_ipa: float = _from_defaults("tracking", "min_ipa")
    max_incidence_gap: float = Field(
        default_factory=lambda: default("tracking", "max_incidence_gap"), ge=0, le=1)
    max_incidence_gap_relative: float = Field(
        default_factory=lambda: default("tracking", "max_incidence_gap_relative"), ge=0)


class TrainConfig(_Strict):
    """A training experiment: data, landmark, features, models, evaluation, tracking.

    Every default is read from the packaged ``default_config.yaml`` (``configs/default.yaml``).
    """

    name: str = _from_defaults("name")
    data: str | None = _from_defaults("data")  # cohort directory; None: the embedded demo cohort
    landmark: LandmarkConfig = Field(default_factory=LandmarkConfig)
    features: list[str] | None = _from_defaults("features")  # None: the default feature set
    models: list[ModelSpec] = Field(
        default_factory=lambda: [ModelSpec(**m) for m in default("models")])
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        labels = [m.display for m in self.models]
        if len(set(labels)) != len(labels):
            raise ValueError("two models share a name; give each a distinct 'label'")
        if self.tracking.final_model and self.tracking.final_model not in labels:
            raise ValueError(f"tracking.final_model {self.tracking.final_model!r} is not one of "
                             f"the models: {', '.join(labels)}")
        return self


def _format_errors(path: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key '{loc}' — check its spelling or remove it")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {loc}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict | None, model=TrainConfig, source: str = "config"):
    """Validate a config mapping; raise ConfigError with one line per problem."""
    try:
        return model.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(_format_errors(source, err)) from None


def load_config(path: str | Path | None, model=TrainConfig):
    """Read and validate a YAML config; ``None`` gives the defaults (``default_config.yaml``)."""
    import yaml

    if path is None:
        return model()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys to values")
    return parse_config(data, model, str(path))


def flatten(cfg: BaseModel) -> dict[str, str]:
    """Flattened ``section.key`` → string, for MLflow params."""
    out: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}", v)
        else:
            out[prefix] = str(value)

    walk("", cfg.model_dump())
    return out
