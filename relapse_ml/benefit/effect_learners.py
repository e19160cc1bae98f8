"""The benefit learners that can beat the trial's average because they can *be* it.

* `ConstantLearner`: the Aalen–Johansen incidence of each arm of the training rows, so the
  benefit is the trial's average effect for everyone (the yardstick's baseline).
* `RiskBasedLearner` (PATH, Kent et al. 2020): a Fine–Gray risk model blinded to the arm,
  then one Fine–Gray fit on its two linear predictors (relapse, non-relapse death) and the
  arm: one relative effect per cause, so the absolute benefit follows baseline risk only.
* `ShrunkFineGray`: the project's Fine–Gray with the arm × feature columns shrunk harder
  than the main effects: after standardisation they are multiplied by ``scale`` (ridge
  penalty ``penalizer / scale²`` on them); ``scale = 0`` drops them. The S-learner's
  scale is chosen by the cross-fitted yardstick inside the training folds (`tuned`).

Each has ``fit(X, time, event, arm)`` and ``predict(X) -> {outcome: (n, 2)}`` (risk at the
horizon under control, column 0, and under sorafenib, column 1), like `learners.TLearner`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES
from relapse_ml.models.fine_gray import FineGray
from relapse_ml.models.preprocess import LinearPreprocessor

INTERACTION_PREFIX = "arm_x_"


def _risks(model, X: pd.DataFrame, tau: float) -> dict[str, np.ndarray]:
    cif = model.predict_cumulative_incidence(X, [tau])[:, :, 0]
    return {"relapse": cif[:, 1], "rfs": 1.0 - cif[:, 0]}


class ConstantLearner:
    """Every patient gets each arm's Aalen–Johansen risk of the training rows."""

    def __init__(self, tau: float):
        self.tau = tau

    def fit(self, X: pd.DataFrame, time, event, arm) -> ConstantLearner:
        from relapse_ml.models import aalen_johansen

        arm, time, event = np.asarray(arm), np.asarray(time, float), np.asarray(event)
        self.risk_ = {}
        for o in OUTCOMES:
            r = []
            for a in (0, 1):
                t, e = time[arm == a], event[arm == a]
                f1 = float(aalen_johansen(t, e, [self.tau], cause=1)[0])
                f2 = float(aalen_johansen(t, e, [self.tau], cause=2)[0])
                r.append(f1 if o == "relapse" else f1 + f2)
            self.risk_[o] = np.array(r)
        return self

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        return {o: np.tile(self.risk_[o], (len(X), 1)) for o in OUTCOMES}


class _ScaledPreprocessor:
    """A fitted `LinearPreprocessor` whose interaction columns are multiplied by ``scale``."""

    def __init__(self, pre: LinearPreprocessor, scale: float):
        self.pre = pre
        self.factor = np.array(
            [scale if c.startswith(INTERACTION_PREFIX) else 1.0 for c in pre.columns_]
        )
        self.columns_ = pre.columns_
        with np.errstate(divide="ignore"):
            self.scale_ = pre.scale_ / np.where(self.factor > 0, self.factor, np.inf)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.pre.transform(X) * self.factor


class ShrunkFineGray(FineGray):
    """Fine–Gray whose ``arm_x_*`` columns carry the ridge penalty ``penalizer / scale²``."""

    def __init__(self, penalizer: float = 0.1, scale: float = 1.0):
        super().__init__(penalizer=penalizer)
        self.scale = scale

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        keep = [c for c in X.columns if self.scale > 0 or not c.startswith(INTERACTION_PREFIX)]
        self.preprocessor_ = _ScaledPreprocessor(LinearPreprocessor().fit(X[keep]), self.scale)
        self._fit_standardised(self.preprocessor_.transform(X), time, event)


class RiskBasedLearner:
    """PATH risk modelling: an arm-blinded Fine–Gray risk model, then one relative effect.

    Stage 1 fits Fine–Gray on the features without the arm (both arms pooled); stage 2 fits
    Fine–Gray on (relapse linear predictor, NRM linear predictor, arm), nearly unpenalised.
    """

    def __init__(self, tau: float, penalizer: float | str = 0.1):
        self.tau = tau
        self.penalizer = penalizer

    def _stage2_design(self, X: pd.DataFrame, arm) -> pd.DataFrame:
        Z = self.blind_.preprocessor_.transform(X)
        return pd.DataFrame(
            {
                "lp_relapse": Z @ self.blind_.beta_std_[1],
                "lp_nrm": Z @ self.blind_.beta_std_[2],
                "arm": np.asarray(arm, dtype=float),
            }
        )

    def fit(self, X: pd.DataFrame, time, event, arm) -> RiskBasedLearner:
        self.blind_ = FineGray(penalizer=self.penalizer).fit(X, time, event)
        self.effect_ = FineGray(penalizer=1e-4).fit(self._stage2_design(X, arm), time, event)
        return self

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        r0, r1 = (
            _risks(self.effect_, self._stage2_design(X, np.full(len(X), a)), self.tau)
            for a in (0, 1)
        )
        return {o: np.c_[r0[o], r1[o]] for o in OUTCOMES}
