"""The design-study config (``configs/design.yaml``), validated by pydantic.

Unknown keys are errors naming the key (``relapse_ml.config.parse_config``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from relapse_ml.config import _Strict

ANALYSES = ("primary", "heterogeneity", "subgroups", "benefit_accuracy", "oracle")


class ScenarioSpec(_Strict):
    """One simulated world: a simulator scenario and, optionally, its effect parameters
    changed (``effect``: fields of `relapse_ml.simulate.scenarios.Scenario`, e.g.
    ``growth_cut``). ``label`` names it in the results (default: the scenario's name)."""

    name: str
    label: str | None = None
    effect: dict[str, float | bool | int | str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from relapse_ml.simulate import SCENARIOS

        if v not in SCENARIOS:
            raise ValueError(f"unknown scenario {v!r}; allowed: " + ", ".join(SCENARIOS))
        return v

    @field_validator("effect")
    @classmethod
    def _effect_keys(cls, v: dict) -> dict:
        from relapse_ml.simulate.scenarios import Scenario

        allowed = [f.name for f in fields(Scenario) if f.name != "name"]
        bad = [k for k in v if k not in allowed]
        if bad:
            raise ValueError(
                f"unknown effect parameter(s) {', '.join(map(repr, bad))}; allowed: "
                + ", ".join(allowed)
            )
        return v

    @property
    def display(self) -> str:
        return self.label or self.name


class AccuracyConfig(_Strict):
    """The ``benefit_accuracy`` analysis: the reported individual benefit
    (`benefit.individual.reported_benefit`) scored against the truth.

    learners: the candidates the reported estimate chooses among — ``default``: the benefit
    package's default learners (what ``relapse-ml benefit`` reports from); ``trial``: the
    per-trial benefit config's (``benefit.learners``; cheap). n_boot: bootstrap replicates
    of its intervals, each re-running the choice (0: no intervals and no coverage).
    careful_cox: also the Spearman of a careful cross-fitted Cox S-learner (one more fit).
    """

    learners: Literal["default", "trial"] = "default"
    n_boot: int = Field(20, ge=0, le=2000)
    careful_cox: bool = False


class DesignTracking(_Strict):
    """Where the study's run goes. ``tracking_uri`` None: $MLFLOW_TRACKING_URI, else
    ./mlruns.db (SQLite). ``enabled: false`` skips MLflow."""

    enabled: bool = True
    experiment: str = "relapse-ml"
    tracking_uri: str | None = None


def _lean_benefit() -> dict[str, Any]:
    """The benefit analysis run inside each trial: the primary learner only, no per-patient
    bootstrap, SHAP or discovery (what a trial's pre-specified analysis needs)."""
    return {
        "learners": [{"kind": "s", "label": "s_fg", "interactions": "key"}],
        "intervals": {"n_boot": 0},
        "explain": {"enabled": False},
        "heterogeneity": {"n_boot": 0},
        "subgroups": {"exploratory": {"enabled": False}},
    }


class DesignConfig(_Strict):
    """A simulation study of a trial design: scenarios x sample sizes x simulated trials.

    Trial i of every scenario and size uses seed ``seed + i`` (the simulator then gives the
    same candidates and control-arm data in every scenario). ``landmark_day`` and
    ``horizon_days`` define the analysis population (alive and relapse-free at the
    landmark, day 60 = the last randomization day) and the follow-up counted from it;
    ``incidence_day`` is where the incidence difference is read, in days from the landmark
    (default: the horizon read at ``horizon_days - 0.5``, as the data are censored at it).
    ``benefit`` overrides the lean benefit config used in each trial (see
    ``configs/benefit.yaml`` for its keys). ``truth_draws`` is the simulator's truth
    precision (only used by ``benefit_accuracy``).
    """

    name: str = "design"
    seed: int = Field(1000, ge=0)
    trials: int = Field(100, ge=1, le=100_000)
    alpha: float = Field(0.05, gt=0, lt=1)
    sizes: list[int] = Field(default_factory=lambda: [346])
    scenarios: list[ScenarioSpec] = Field(
        default_factory=lambda: [ScenarioSpec(name="null"), ScenarioSpec(name="mrd_driven")]
    )
    landmark_day: float = Field(60, ge=60, le=4000)
    horizon_days: float = Field(730, gt=0, le=3590)
    incidence_day: float | None = Field(None, gt=0)  # None: horizon_days - 0.5
    analyses: list[
        Literal["primary", "heterogeneity", "subgroups", "benefit_accuracy", "oracle"]
    ] = Field(default_factory=lambda: list(ANALYSES[:4]))
    subgroups: list[str] | None = None  # None: the benefit package's pre-specified list
    subgroup_outcome: Literal["relapse", "rfs"] = "relapse"
    subgroup_correction: Literal["holm", "bh"] = "holm"
    truth_draws: int = Field(16, ge=2)
    benefit: dict[str, Any] = Field(default_factory=dict)
    accuracy: AccuracyConfig = Field(default_factory=AccuracyConfig)
    tracking: DesignTracking = Field(default_factory=DesignTracking)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one sample size")
        if any(n < 40 for n in v):
            raise ValueError("sample sizes must be >= 40 randomized patients")
        if len(set(v)) != len(v):
            raise ValueError("a sample size is listed twice")
        return sorted(v)

    @field_validator("truth_draws")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError("truth_draws must be a power of two")
        return v

    @field_validator("subgroups")
    @classmethod
    def _subgroups(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        from relapse_ml.benefit.subgroups import SUBGROUPS

        bad = [n for n in v if n not in SUBGROUPS]
        if bad:
            raise ValueError(
                f"unknown subgroup(s) {', '.join(map(repr, bad))}; allowed: " + ", ".join(SUBGROUPS)
            )
        return v

    @model_validator(mode="after")
    def _check(self) -> DesignConfig:
        if not self.scenarios:
            raise ValueError("scenarios: give at least one")
        labels = [s.display for s in self.scenarios]
        if len(set(labels)) != len(labels):
            raise ValueError("scenarios: two share a name; give each a distinct 'label'")
        if not self.analyses:
            raise ValueError("analyses: give at least one of " + ", ".join(ANALYSES))
        if self.incidence_day is not None and self.incidence_day > self.horizon_days:
            raise ValueError("incidence_day must be <= horizon_days")
        self.benefit_config()  # a bad benefit section fails here, with its key named
        if "benefit_accuracy" in self.analyses:
            self.reported_config()
        return self

    def benefit_config(self, reported: bool = False):
        """The `BenefitConfig` each trial's benefit analyses use; with ``reported``, that of
        the reported estimate (``accuracy``: its learners and bootstrap replicates)."""
        from relapse_ml.benefit.config import BenefitConfig
        from relapse_ml.config import ConfigError, parse_config

        merged = {**_lean_benefit(), **self.benefit}
        if merged.get("learners") == "default":  # the benefit package's default learners
            merged.pop("learners")
        merged["landmark"] = {"landmark_day": self.landmark_day, "horizon_days": self.horizon_days}
        if self.subgroups is not None:
            merged["subgroups"] = {**merged.get("subgroups", {}), "names": self.subgroups}
        if reported:
            if self.accuracy.learners == "default":
                merged.pop("learners", None)
                merged.pop("primary", None)
            merged["intervals"] = {**merged.get("intervals", {}), "n_boot": self.accuracy.n_boot}
        try:
            return parse_config(merged, BenefitConfig, "benefit")
        except ConfigError as err:
            raise ValueError(str(err).replace("\n", "; ")) from None

    def reported_config(self):
        """The `BenefitConfig` of the reported individual benefit (``benefit_accuracy``)."""
        return self.benefit_config(reported=True)

    @property
    def tau(self) -> float:
        return float(self.incidence_day or self.horizon_days - 0.5)

    def scenario(self, label: str) -> ScenarioSpec:
        return next(s for s in self.scenarios if s.display == label)
