"""The benefit learners' specifications: which learner, on which competing-risk model, with
which arm interactions — and the default set `relapse-ml benefit` cross-fits.

Part of the benefit config (`relapse_ml.benefit.config.BenefitConfig.learners`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from relapse_ml.config import ModelSpec, _Strict


# Fine–Gray fits in milliseconds here (its own Newton solver), the lifelines-based
# cause-specific Cox in about a second per fit on a trial arm: cross-fitting and the
# bootstrap refit the nuisance dozens of times, so the default is Fine–Gray.
def default_nuisance() -> ModelSpec:
    return ModelSpec(name="fine_gray", params={"penalizer": 0.1})


# arm x feature columns of the default S-learner: residual disease, chimerism, GVHD, age,
# comorbidity and adverse cytogenetics (the mechanisms of benefit and of harm the trial cares
# about; cytogenetics joined by the pre-specified rule of docs/benefit.md, stop 22)
KEY_INTERACTIONS = (
    "mrd_mfc_latest",
    "mrd_mfc_detected_ever",
    "mrd_mfc_log_slope",
    "chimerism_mixed",
    "agvhd_max_grade",
    "age",
    "hct_ci",
    "cytogenetic_risk_adverse",
)


class FinalStage(_Strict):
    """The DR-learner's regression of the pseudo-outcome on the features.

    ``ridge``: median-imputed, standardised ridge with its penalty chosen by efficient
    leave-one-out over a grid (shrinks to a constant when the pseudo-outcome is noise);
    ``xgb``: a small XGBoost regressor (params passed to ``xgboost.XGBRegressor``).
    """

    name: Literal["ridge", "xgb"] = "ridge"
    params: dict[str, Any] = Field(default_factory=dict)


class LearnerSpec(_Strict):
    """One benefit learner: its kind, its competing-risk base model and options.

    kind ``s``: one model with ``arm`` (and, for linear models, arm x feature columns);
    ``t``: one model per arm; ``dr``: doubly robust learner on IPCW pseudo-outcomes with
    the T-learner of ``model`` as nuisance and ``final`` as the last regression; ``r``:
    R-learner (Nie & Wager) with the same nuisance and ``final`` on the residuals;
    ``constant``: each arm's Aalen–Johansen risk (the trial's average effect for everyone);
    ``risk``: PATH risk-based learner (arm-blinded Fine–Gray risk, one relative effect).
    shrink (S-learner on ``fine_gray``): scales of the arm x feature columns after
    standardisation (ridge penalty ``penalizer / scale²`` on them, 0 drops them); the scale
    is chosen by the cross-fitted yardstick inside each training fold.
    interactions (S-learner, linear base models only): feature columns multiplied by the
    arm; ``key`` those of `KEY_INTERACTIONS` present, ``all`` every feature, ``[]`` none
    (benefit then varies only through baseline risk: the PATH "risk modelling" approach).
    """

    kind: Literal["s", "t", "dr", "r", "constant", "risk"]
    model: ModelSpec = Field(default_factory=default_nuisance)
    final: FinalStage = Field(default_factory=FinalStage)
    interactions: Literal["key", "all"] | list[str] = "key"
    shrink: list[float] | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _shrink(self) -> LearnerSpec:
        if self.shrink is not None:
            if self.kind != "s" or self.model.name != "fine_gray":
                raise ValueError("shrink applies to an S-learner on fine_gray only")
            if not self.shrink or any(v < 0 for v in self.shrink):
                raise ValueError("shrink: give one or more scales >= 0")
        return self

    @property
    def display(self) -> str:
        return self.label or f"{self.kind}_{self.model.name}"


def small_xgb(**extra: Any) -> ModelSpec:
    """The benefit package's small cause-specific XGBoost (the T-learner, the SHAP risk model)."""
    params = {"n_estimators": 200, "learning_rate": 0.03, "max_depth": 2, "min_child_weight": 5}
    return ModelSpec(name="xgb_cs", params={**params, **extra})


def default_learners() -> list[LearnerSpec]:
    xgb = small_xgb(early_stopping_rounds=None)
    return [
        LearnerSpec(kind="s", label="s_fg", interactions="key"),
        LearnerSpec(kind="constant", label="constant"),
        LearnerSpec(kind="risk", label="risk_path"),
        LearnerSpec(kind="s", label="s_fg_shrunk", interactions="key", shrink=[0, 0.5, 1]),
        LearnerSpec(kind="r", label="r_ridge"),
        LearnerSpec(
            kind="r",
            label="r_xgb",
            final=FinalStage(name="xgb", params={"n_estimators": 40, "max_depth": 2}),
        ),
        LearnerSpec(kind="s", label="s_fg_risk", interactions=[]),
        LearnerSpec(kind="t", label="t_fg"),
        LearnerSpec(kind="dr", label="dr_fg"),
        LearnerSpec(kind="t", label="t_xgb", model=xgb),
    ]
