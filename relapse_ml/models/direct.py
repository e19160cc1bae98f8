"""Direct model of the cumulative incidences at a few times, with no proportional hazards.

At each time t of a small grid (``times``, ending at ``horizon``), one XGBoost
``multi:softprob`` booster classifies the status at t — event-free, relapse by t,
NRM by t — with inverse-probability-of-censoring weights, so that its class
probabilities estimate (1 - F1 - F2, F1, F2)(t | x) when censoring does not depend
on x (methods notes):

* an event of either cause at T <= t: weight 1/G(T-);
* event-free at t (T > t, or censored exactly at t): weight 1/G(t-);
* censored before t: weight 0 (left out).

The censoring-at-t row counts as event-free because its status at t is known;
with the data censored administratively at the horizon, that keeps every
event-free patient in the fit at the horizon (1/G(t) with T > t only would drop
them all). Weights are rescaled to mean 1 so ``min_child_weight`` keeps its meaning.

The incidences are made non-decreasing in t (cumulative maximum over the grid),
kept coherent (``base.cap_total_incidence``), and read as right-continuous steps:
0 before the first grid time and constant after the last, so ``predict_cif`` at
times beyond ``horizon`` is not an extrapolation but the value at the horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.errors import ModelError
from relapse_ml.models.base import CompetingRiskModel, cap_total_incidence, step_at
from relapse_ml.models.xgb import booster_params, train_booster, validation_split


def status_weights(
    time: np.ndarray, event: np.ndarray, t: float, G
) -> tuple[np.ndarray, np.ndarray]:
    """Status at ``t`` (0 event-free, 1 relapse, 2 NRM) and its IPCW weight (0 if unknown)."""
    had_event = (event != 0) & (time <= t)
    event_free = (time > t) | ((time == t) & (event == 0))
    status = np.where(had_event, event, 0)
    g = np.where(had_event, G.before(time), G.before(np.full(time.size, t)))
    known = had_event | event_free
    weight = np.divide(1.0, g, out=np.zeros(time.size), where=known & (g > 0))
    return status, weight


def default_grid(time: np.ndarray, event: np.ndarray, horizon: float, n_times: int) -> np.ndarray:
    """Quantiles of the event times up to ``horizon``, then ``horizon`` itself (``n_times`` in all)."""
    event_times = time[(event != 0) & (time <= horizon)]
    if n_times < 1:
        raise ModelError("n_times must be >= 1.")
    if event_times.size == 0 or n_times == 1:
        return np.array([float(horizon)])
    q = np.quantile(event_times, np.arange(1, n_times) / n_times)
    return np.unique(np.r_[q, horizon])


class XGBoostDirect(CompetingRiskModel):
    """IPCW multinomial XGBoost for (event-free, relapse, NRM) status at a grid of times.

    horizon: the last grid time (days from the landmark), where F1(horizon | x) is wanted.
    times: the grid (days, <= horizon); None: ``n_times`` quantiles of the event
        times up to the horizon, ending at the horizon.
    Other parameters as ``XGBoostCauseSpecific``; early stopping uses the weighted
    multinomial loss on a validation split shared by the grid times.

    Fitted: ``times_`` (the grid), ``boosters_`` (one per grid time), ``n_rounds_``,
    ``prior_margins_`` (log marginal status shares per grid time, the boosting start).
    """

    def __init__(
        self,
        horizon: float = 730.0,
        times=None,
        n_times: int = 4,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int | None = 20,
        validation_fraction: float = 0.2,
        random_state: int = 0,
        n_jobs: int = 1,
    ):
        self.horizon = horizon
        self.times = times
        self.n_times = n_times
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _grid(self, time: np.ndarray, event: np.ndarray) -> np.ndarray:
        if not np.isfinite(self.horizon) or self.horizon <= 0:
            raise ModelError(f"horizon must be a positive number of days, got {self.horizon!r}.")
        if self.times is None:
            return default_grid(time, event, float(self.horizon), self.n_times)
        grid = np.unique(np.asarray(self.times, dtype=float))
        if grid.size == 0 or grid[0] <= 0 or grid[-1] > self.horizon:
            raise ModelError("times must be > 0 and <= horizon (days from the landmark).")
        return grid

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        from relapse_ml.evaluation.ipcw import censoring_km

        params = booster_params(self, "multi:softprob", num_class=3, eval_metric="mlogloss")
        arr = X.to_numpy(dtype=float)
        G = censoring_km(time, event)
        valid = validation_split(event, self.validation_fraction, self.random_state,
                                 groups=getattr(self, "_groups", None))
        self.times_ = self._grid(time, event)
        self.boosters_, self.n_rounds_, self.prior_margins_ = [], [], []
        for t in self.times_:
            status, weight = status_weights(time, event, t, G)
            rows = weight > 0
            if rows.sum() < 10:
                raise ModelError(
                    f"Only {int(rows.sum())} patients have a known status at day {t:g}; "
                    "choose an earlier horizon or times."
                )
            w = weight[rows] / weight[rows].mean()
            # boost from the marginal status shares (= Aalen–Johansen at t), so that
            # early stopping shrinks towards the cohort's incidence, not towards 1/3
            shares = np.bincount(status[rows], weights=w, minlength=3) / w.sum()
            prior = np.log(np.clip(shares, 1e-9, None))
            booster, n_rounds = train_booster(
                params,
                arr[rows],
                status[rows].astype(float),
                w,
                valid[rows],
                self.n_estimators,
                self.early_stopping_rounds,
                base_margin=np.tile(prior, (int(rows.sum()), 1)),
            )
            self.boosters_.append(booster)
            self.n_rounds_.append(n_rounds)
            self.prior_margins_.append(prior)

    def _grid_incidence(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F1, F2 at the grid times: ``(n_samples, n_grid)`` each, monotone and coherent."""
        import xgboost as xgb

        probs = []
        for booster, n_rounds, prior in zip(
            self.boosters_, self.n_rounds_, self.prior_margins_, strict=True
        ):
            data = xgb.DMatrix(arr, base_margin=np.tile(prior, (arr.shape[0], 1)), missing=np.nan,
                               nthread=self.n_jobs)
            probs.append(booster.predict(data, iteration_range=(0, n_rounds)))
        probs = np.stack(probs, axis=2)  # (n, 3, n_grid)
        f1 = np.maximum.accumulate(probs[:, 1, :], axis=1)
        f2 = np.maximum.accumulate(probs[:, 2, :], axis=1)
        return cap_total_incidence(f1, f2)

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f1, f2 = self._grid_incidence(X.to_numpy(dtype=float))
        return step_at(self.times_, f1, times), step_at(self.times_, f2, times)
