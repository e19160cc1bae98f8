"""A stacked competing-risk ensemble: a convex combination of member models and the null model.

Weights (methods notes, "Stacking"): inside the training data, each member's out-of-fold
incidences come from an inner K-fold split; the weights w ≥ 0, Σ w = 1 over the members and
the Aalen–Johansen null model minimise the out-of-fold IPCW Brier score of relapse
integrated over a time grid (a quadratic in w: solved by scipy's SLSQP on the simplex).
The members are then refitted on all the training data. The ensemble predicts
F_k(t | x) = Σ_m w_m F_k,m(t | x) for both causes: a convex combination of coherent
incidences is coherent (S + F1 + F2 = 1). On pure noise the null model wins the weight.

Used inside the outer cross-validation as any other model, so its weights are chosen
without the outer test fold (nested). Given ``groups`` (patient ids of stacked landmark
rows), the inner split keeps each patient's rows together too. A member may be a single
model or the trajectory step around one (``{"name": "trajectory", "params": {"model": …}}``):
the stack keeps the hidden marker histories (``_obs:*``) for it, the other members drop them.

Fixed weights (``weights: equal`` or a mapping label → weight, the null model's under
``aalen_johansen``): nothing is chosen from the data, so there is no inner split — the
members are fitted once and their incidences mixed with the given weights (a blend; its
cross-validation is the members' own, `evaluation.blend`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.errors import ModelError
from relapse_ml.models.base import CompetingRiskModel
from relapse_ml.models.catalog import SINGLE_MODELS, build, make_single_model
from relapse_ml.models.trajectory import TrajectoryModel
from relapse_ml.weights import check_weights

NULL = "aalen_johansen"
DEFAULT_MEMBERS = (
    {"name": "cox_cs", "params": {"penalizer": 0.1}},
    {"name": "fine_gray", "params": {"penalizer": 0.1}},
    {"name": "xgb_cs", "params": {"n_estimators": 300, "learning_rate": 0.03, "max_depth": 2,
                                  "min_child_weight": 5}},
)


MEMBER_MODELS = {**SINGLE_MODELS, "trajectory": TrajectoryModel}


def make_member(name: str, **params) -> CompetingRiskModel:
    """A new, unfitted stack member: a single model or the trajectory step around one."""
    model = build(MEMBER_MODELS, name, params,
                  note=" (a stack's members are single models or the trajectory step)")
    if isinstance(model, TrajectoryModel):  # its inner model is checked now, not mid-training
        make_single_model(model.model, **(model.model_params or {}))
    return model


class StackedCompetingRisk(CompetingRiskModel):
    """Convex stack of ``members`` (list of ``{"name", "params"[, "label"]}``) and the null model.

    inner_splits: folds of the inner split that produces the out-of-fold predictions;
    n_times: points of the Brier grid (evenly spaced to the last training time); seed.
    weights: None (chosen on the inner out-of-fold Brier, above), ``"equal"`` (1/k for each
    of the k members, 0 for the null model) or a mapping label → weight naming every member
    (and optionally ``aalen_johansen``), ≥ 0 and summing to 1: fixed, no inner split.

    Fitted: ``weights_`` (label → weight, the null model under ``"aalen_johansen"``),
    ``members_`` (label → model refitted on all rows), ``inner_ibs_`` (label → out-of-fold
    integrated Brier of each member alone, and ``"stack"`` for the combination; empty with
    fixed weights).
    """

    keeps_hidden_columns = True  # for trajectory members; the other members drop ``_obs:*``

    def __init__(self, members=None, inner_splits: int = 3, n_times: int = 10, seed: int = 0,
                 weights=None):
        self.members = members
        self.inner_splits = inner_splits
        self.n_times = n_times
        self.seed = seed
        self.weights = weights

    def member_specs(self) -> list[tuple[str, str, dict]]:
        """``[(label, model name, params)]`` of the members (the null model not among them)."""
        specs = list(self.members) if self.members is not None else list(DEFAULT_MEMBERS)
        out = []
        for s in specs:
            if not isinstance(s, dict) or "name" not in s:
                raise ModelError("stack members are mappings with a 'name' (and 'params')")
            if s["name"] in ("stack", NULL):
                raise ModelError(f"a stack member cannot be '{s['name']}' (the null model is "
                                 "always included)")
            out.append((str(s.get("label") or s["name"]), s["name"], dict(s.get("params") or {})))
        labels = [o[0] for o in out]
        if not out or len(set(labels)) != len(labels):
            raise ModelError("a stack needs at least one member, each with a distinct label")
        return out

    def fixed_weights(self) -> dict[str, float] | None:
        """The given weights (label → w, the null model's included), None when they are to
        be chosen from the data; a ModelError says what is allowed."""
        if self.weights is None:
            return None
        labels = [s[0] for s in self.member_specs()]
        if isinstance(self.weights, str):
            if self.weights != "equal":
                raise ModelError(f"stack weights '{self.weights}' unknown: give 'equal', a "
                                 "mapping member label -> weight, or leave them out (chosen "
                                 "on an inner split)")
            return {NULL: 0.0, **{lab: 1.0 / len(labels) for lab in labels}}
        if not isinstance(self.weights, dict):
            raise ModelError(f"stack weights must be 'equal' or a mapping member label -> "
                             f"weight, got {self.weights!r}")
        unknown = sorted(set(map(str, self.weights)) - {NULL, *labels})
        missing = [lab for lab in labels if lab not in self.weights]
        if unknown or missing:
            raise ModelError(f"stack weights must name every member ({', '.join(labels)}; "
                             f"optionally {NULL}): unknown {unknown}, missing {missing}")
        w = check_weights(self.weights, fix="give numbers >= 0 summing to 1, or 'equal'")
        return {NULL: w.get(NULL, 0.0), **{lab: w[lab] for lab in labels}}

    def validate(self) -> StackedCompetingRisk:
        """Check the members (names, parameters) and the weights before any fitting; a
        ModelError names the fault."""
        for label, name, params in self.member_specs():
            try:
                make_member(name, **params)
            except ModelError as err:
                raise ModelError(f"stack member '{label}': {err}") from None
        self.fixed_weights()
        return self

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        fixed = self.fixed_weights()
        if fixed is not None:
            self.weights_, self.inner_ibs_ = fixed, {}
            self._fit_members(X, time, event)
            return
        from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

        from relapse_ml.evaluation.ipcw import censoring_km, ipcw_weights

        specs = self.member_specs()
        labels = [NULL] + [s[0] for s in specs]
        grid = np.linspace(time.max() / self.n_times, time.max() - 0.5, self.n_times)
        oof = np.full((len(labels), time.size, grid.size), np.nan)
        groups = getattr(self, "_groups", None)
        if groups is None:
            splits = StratifiedKFold(self.inner_splits, shuffle=True, random_state=self.seed
                                     ).split(np.zeros(time.size), event)
        else:
            splits = StratifiedGroupKFold(self.inner_splits, shuffle=True, random_state=self.seed
                                          ).split(np.zeros(time.size), event, groups)
        for train, test in splits:
            oof[0, test] = make_single_model(NULL).fit(  # per landmark on stacked landmarks
                X.iloc[train], time[train], event[train]).predict_cif(X.iloc[test], grid, cause=1)
            for m, (_, name, params) in enumerate(specs, start=1):
                model = make_member(name, **params).fit(
                    X.iloc[train], time[train], event[train],
                    groups=None if groups is None else groups[train])
                oof[m, test] = model.predict_cif(X.iloc[test], grid, cause=1)
        W = ipcw_weights(time, event, grid, censoring_km(time, event))
        y = ((time[:, None] <= grid[None, :]) & (event[:, None] == 1)).astype(float)
        q = _trapezoid_weights(grid)
        A = np.einsum("t,it,mit,kit->mk", q, W, oof, oof) / time.size
        b = np.einsum("t,it,it,mit->m", q, W, y, oof) / time.size
        c = float(np.einsum("t,it,it->", q, W, y * y) / time.size)
        w = _simplex_quadratic(A, b)
        self.weights_ = dict(zip(labels, (float(x) for x in w), strict=True))
        self.inner_ibs_ = {lab: float(A[m, m] - 2 * b[m] + c) for m, lab in enumerate(labels)}
        self.inner_ibs_["stack"] = float(w @ A @ w - 2 * b @ w + c)
        self._fit_members(X, time, event)

    def _fit_members(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        """The null model and every member of weight > 1e-6, fitted on all the rows (the
        members side by side in threads, `_side_by_side`)."""
        groups = getattr(self, "_groups", None)
        self.null_ = make_single_model(NULL).fit(X, time, event)
        todo = [(lab, name, params) for lab, name, params in self.member_specs()
                if self.weights_[lab] > 1e-6]

        def fit(name, params):
            return make_member(name, **params).fit(X, time, event, groups=groups)

        fitted = _side_by_side(fit, [(name, params) for _, name, params in todo], X)
        self.members_ = {lab: model for (lab, _, _), model in zip(todo, fitted, strict=True)}

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = [(self.weights_[NULL], self.null_)] + [
            (self.weights_[lab], m) for lab, m in self.members_.items()]
        f1 = np.zeros((len(X), times.size))
        f2 = np.zeros_like(f1)
        for w, model in parts:
            if w > 0:
                inc = model.predict_cumulative_incidence(X, times)
                f1 += w * inc[:, 1]
                f2 += w * inc[:, 2]
        return f1, f2


def _side_by_side(fn, jobs: list[tuple], X: pd.DataFrame) -> list:
    """``[fn(*job) for job in jobs]``, in threads over the cores when called from the main
    thread (a final refit) — inside a cross-validation's worker thread, one after the other,
    as the folds already fill the cores. Each member's fit is deterministic and its own, so
    the models are the same either way (BLAS on one thread, as in the folds' fits)."""
    from relapse_ml.parallel import cores, in_main_thread, in_threads

    threads = min(len(jobs), cores()) if in_main_thread() else 1
    consolidate = getattr(X, "_consolidate_inplace", None)
    if threads > 1 and consolidate is not None:  # pandas may consolidate blocks on access
        consolidate()
    return in_threads(fn, jobs, threads)


def _trapezoid_weights(grid: np.ndarray) -> np.ndarray:
    """q such that Σ q_t f(t_t) is the trapezoidal mean of f over the grid's span."""
    if grid.size == 1:
        return np.ones(1)
    d = np.diff(grid)
    q = np.zeros(grid.size)
    q[:-1] += d / 2
    q[1:] += d / 2
    return q / (grid[-1] - grid[0])


def _simplex_quadratic(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin over the simplex of w'Aw − 2b'w (SLSQP from the best single vertex)."""
    from scipy.optimize import minimize

    k = b.size
    start = np.zeros(k)
    start[int(np.argmin(np.diag(A) - 2 * b))] = 1.0
    res = minimize(lambda w: w @ A @ w - 2 * b @ w, start, jac=lambda w: 2 * (A @ w) - 2 * b,
                   method="SLSQP", bounds=[(0.0, 1.0)] * k,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0,
                                 "jac": lambda w: np.ones_like(w)}],
                   options={"ftol": 1e-12, "maxiter": 200})
    w = np.clip(res.x if res.success else start, 0.0, None)
    return w / w.sum()
