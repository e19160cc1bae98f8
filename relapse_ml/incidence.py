"""Cumulative incidence arithmetic in numpy only: step functions, Breslow baselines and the
combination of two cause-specific hazards into incidences.

It lives outside `relapse_ml.models` (whose base class needs scikit-learn) so the clinician's
scoring path can use the very same code without importing scikit-learn.

Breslow baseline hazards and the cumulative incidence combined from cause-specific hazards.

Shared by the cause-specific Cox and XGBoost models, so both turn margins into
incidences the same way (methods notes):

* Breslow: dLambda_k0(t_j) = d_kj / sum_{l at risk at t_j} exp(m_k(x_l)), on the
  training margins m_k.
* dLambda_k(t_j | x) = dLambda_k0(t_j) * exp(m_k(x)).
* F_k(t | x) = sum_{t_j <= t} S(t_{j-1} | x) * dLambda_k(t_j | x).

S is the product-limit survival prod_j (1 - dLambda_1(t_j | x) - dLambda_2(t_j | x)),
the discrete counterpart of exp(-Lambda_1 - Lambda_2). With it S + F_1 + F_2 = 1
exactly, and with all margins equal the combination is the Aalen–Johansen
estimator itself. With exp(-Lambda) instead, F_1 + F_2 + S exceeds 1 by the
discretisation error and F_1 + F_2 can pass 1 for very high-risk patients.
Where the summed hazard of one step exceeds 1 (a patient far outside the
training risk range) the step takes all remaining mass, split in proportion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def step_at(grid: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Evaluate right-continuous step functions that are 0 before ``grid[0]``.

    ``values`` has the grid along its last axis; the result has ``times`` there.
    """
    idx = np.searchsorted(grid, times, side="right") - 1
    values = np.asarray(values, dtype=float)
    padded = np.concatenate([np.zeros(values.shape[:-1] + (1,)), values], axis=-1)
    return padded[..., idx + 1]


def cap_total_incidence(f1: np.ndarray, f2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stop two non-decreasing incidences (on a model's own time grid) once they sum to 1.

    For models that estimate each cause separately (Fine–Gray, direct): the step at
    which F1 + F2 would pass 1 gets only the remaining mass, shared in proportion to
    the two increments, and later steps get none; both stay non-decreasing.
    """
    d1 = np.diff(f1, axis=-1, prepend=0.0)
    d2 = np.diff(f2, axis=-1, prepend=0.0)
    step = d1 + d2
    before = np.cumsum(step, axis=-1) - step
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(step > 0, np.clip((1.0 - before) / step, 0.0, 1.0), 0.0)
    return np.cumsum(d1 * scale, axis=-1), np.cumsum(d2 * scale, axis=-1)


def assemble_incidence(f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    """Stack ``(S, F1, F2)`` along axis 1, forcing 0 <= F_k, F1 + F2 <= 1 and S = 1 - F1 - F2.

    A last guard against rounding: hazard models are coherent by construction, and the
    per-cause models (Fine–Gray, direct) already cap on their own grid
    (``cap_total_incidence``), which keeps the curves monotone as rescaling here would not.
    """
    f1 = np.clip(f1, 0.0, 1.0)
    f2 = np.clip(f2, 0.0, 1.0)
    total = f1 + f2
    scale = np.where(total > 1.0, 1.0 / np.where(total > 0, total, 1.0), 1.0)
    f1, f2 = f1 * scale, f2 * scale
    surv = np.clip(1.0 - f1 - f2, 0.0, 1.0)
    return np.stack([surv, f1, f2], axis=1)


@dataclass(frozen=True)
class BreslowBaseline:
    """Baseline hazard increments of one cause at its distinct event times.

    offset: the margin the increments refer to (the largest training margin). A margin
    above it is read as the offset itself (the guard on the linear predictor): no patient
    gets a hazard ratio beyond the highest one the model was fitted on, and
    exp(margin - offset) cannot overflow.
    """

    times: np.ndarray
    increments: np.ndarray
    offset: float

    def hazard_increments(self, margin: np.ndarray) -> np.ndarray:
        """dLambda(t_j | x) for each patient: ``(n_samples, n_times)``."""
        relative = np.exp(np.minimum(np.asarray(margin, dtype=float) - self.offset, 0.0))
        return relative[:, None] * self.increments[None, :]

    def cumulative_hazard(self, margin: np.ndarray, times) -> np.ndarray:
        """Lambda(t | x) at ``times``: ``(n_samples, n_times)``."""
        cum = np.cumsum(self.hazard_increments(margin), axis=1)
        return step_at(self.times, cum, np.asarray(times, dtype=float))


def breslow_baseline(
    time: np.ndarray,
    status: np.ndarray,
    margin: np.ndarray,
    *,
    entry: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> BreslowBaseline:
    """Breslow estimator of the baseline hazard of the event marked by ``status``.

    status: 1 for an event of this cause at ``time``, 0 otherwise (censored or the
        other cause, which both leave the risk set).
    entry: optional delayed entry; a row is at risk at t when entry < t <= time.
    weights: optional case weights (Fine–Gray's censoring weights).
    """
    time = np.asarray(time, dtype=float)
    status = np.asarray(status).astype(bool)
    margin = np.asarray(margin, dtype=float)
    w = np.ones_like(time) if weights is None else np.asarray(weights, dtype=float)
    grid = np.unique(time[status])
    offset = float(margin.max()) if margin.size else 0.0
    if grid.size == 0:
        return BreslowBaseline(grid, np.zeros(0), offset)
    risk = w * np.exp(margin - offset)
    at_risk = _sum_with_key_at_least(time, risk, grid)
    if entry is not None:
        # rows that enter at or after t are not yet at risk at t
        at_risk = at_risk - _sum_with_key_at_least(np.asarray(entry, dtype=float), risk, grid)
    deaths = np.bincount(
        np.searchsorted(grid, time[status]), weights=w[status], minlength=grid.size
    )
    return BreslowBaseline(grid, deaths / at_risk, offset)


def _sum_with_key_at_least(
    key: np.ndarray, values: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """For each threshold c: sum of ``values`` over rows with ``key >= c``."""
    order = np.argsort(key, kind="stable")
    tail = np.concatenate([np.cumsum(values[order][::-1])[::-1], [0.0]])
    return tail[np.searchsorted(key[order], thresholds, side="left")]


def cumulative_incidence_from_hazards(
    base1: BreslowBaseline,
    margin1: np.ndarray,
    base2: BreslowBaseline,
    margin2: np.ndarray,
    times: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Relapse and NRM incidences ``(F1, F2)`` at ``times``, each ``(n_samples, n_times)``."""
    times = np.asarray(times, dtype=float)
    n = np.asarray(margin1).shape[0]
    grid = _common_grid(base1, base2, times)
    if grid.size == 0:
        return _zero_pair(n, times)
    dh1 = _on_grid(base1, margin1, grid)
    dh2 = _on_grid(base2, margin2, grid)
    total = dh1 + dh2
    scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1.0), 1.0)
    surv = np.cumprod(1.0 - total * scale, axis=1)
    surv_before = np.concatenate([np.ones((n, 1)), surv[:, :-1]], axis=1)
    f1 = np.cumsum(surv_before * dh1 * scale, axis=1)
    f2 = np.cumsum(surv_before * dh2 * scale, axis=1)
    return step_at(grid, f1, times), step_at(grid, f2, times)


def fine_gray_incidence(
    base1: BreslowBaseline,
    margin1: np.ndarray,
    base2: BreslowBaseline,
    margin2: np.ndarray,
    times: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Fine–Gray ``(F1, F2)`` at ``times``: F_k = 1 - exp(-Lambda_k0 exp(m_k)) per cause,
    capped where F1 + F2 would pass 1 (`cap_total_incidence`)."""
    times = np.asarray(times, dtype=float)
    grid = _common_grid(base1, base2, times)
    if grid.size == 0:
        return _zero_pair(np.asarray(margin1).shape[0], times)
    f1, f2 = (-np.expm1(-b.cumulative_hazard(m, grid)) for b, m in ((base1, margin1),
                                                                      (base2, margin2)))
    f1, f2 = cap_total_incidence(f1, f2)
    return step_at(grid, f1, times), step_at(grid, f2, times)


def _common_grid(base1: BreslowBaseline, base2: BreslowBaseline, times: np.ndarray) -> np.ndarray:
    """Both causes' event times up to the last time asked (later steps cannot change it)."""
    grid = np.union1d(base1.times, base2.times)
    return grid[grid <= times.max()]


def _zero_pair(n: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(F1, F2)`` when neither cause has an event by the last time: zero incidences."""
    return np.zeros((n, times.size)), np.zeros((n, times.size))


def _on_grid(base: BreslowBaseline, margin: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Hazard increments of one cause placed on the common grid (0 where it has no event)."""
    out = np.zeros((np.asarray(margin).shape[0], grid.size))
    keep = base.times <= grid[-1]
    if keep.any():
        cols = np.searchsorted(grid, base.times[keep])
        out[:, cols] = base.hazard_increments(margin)[:, keep]
    return out


def marginal_incidence(
    tables: dict[float, tuple], days: np.ndarray | None, times: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both incidences ``(n, len(times))`` of the marginal (Aalen–Johansen) model.

    tables: ``{landmark day: (event_times, F1, F2)}`` — one entry (its key unused) for the
    unstratified model, one per stacked landmark for the super-landmark null. With several,
    each row takes the table of the latest landmark on or before its ``days`` value (the
    earliest one before the first)."""
    keys = np.array(sorted(tables), float)
    if keys.size == 1:
        which = np.full(n, keys[0])
    else:
        pos = np.searchsorted(keys, np.asarray(days, float), side="right") - 1
        which = keys[np.clip(pos, 0, keys.size - 1)]
    f1, f2 = np.empty((n, times.size)), np.empty((n, times.size))
    for k in np.unique(which):
        grid, g1, g2 = tables[float(k)]
        m = which == k
        f1[m], f2[m] = step_at(grid, g1, times), step_at(grid, g2, times)
    return f1, f2
