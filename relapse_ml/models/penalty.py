"""The ridge penalty of the linear models chosen inside each fit (``penalizer: auto``).

A fixed penalty on the *mean* log partial likelihood (lifelines' convention, the default
0.1) shrinks as much at 20,000 patients as at 346: too little for a small trial (out-of-fold
calibration slope 0.82 at 346), too much for a large one (`docs/landmark_strata.md`,
"Penalty"). ``auto`` chooses it, per cause, from the training rows only:

* a grid of penalties (``GRID``, mean scale, half a decade apart), fitted from the largest
  down with warm starts (`partial_likelihood.SubdistributionProblem`, the models' own Newton solver),
  stopping once the criterion has fallen at ``PATIENCE`` penalties below the best so far
  (grid values not reached keep a criterion of −inf);
* an inner K-fold split **by patient** (``fold_labels``, the splits cross-validation makes:
  a patient's stacked landmark rows are never on both sides), stratified by event;
* the criterion: Verweij & van Houwelingen's (1993) cross-validated partial likelihood,
  sum_k [l(beta_-k) − l_-k(beta_-k)] (l: the log partial likelihood of all selection rows,
  l_-k: of the rows outside fold k; glmnet's ``cv.glmnet(..., grouped = TRUE)`` for Cox);
  stratified by landmark when the model is, and for Fine–Gray the weighted (Geskus) one;
* ``auto_1se``: glmnet's ``lambda.1se``, the largest penalty whose criterion is within one
  standard error of the best (more shrinkage, erring towards a flatter model);
* on large training sets the inner split runs on a random subset of ``MAX_PATIENTS``
  patients (cost), and the penalty chosen there is carried to all rows with the same
  *sum*-scale ridge n_sub·λ_sub = n·λ (ridge as a prior on the coefficients, whose strength
  does not grow with the data); with at most ``MAX_PATIENTS`` patients it is glmnet's rule
  (the chosen mean-scale penalty refitted on all rows).

The choice is made again in every fit (each cross-validation fold, each bootstrap refit),
so evaluation sees its variability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relapse_ml.errors import ModelError
from relapse_ml.models.partial_likelihood import separated

AUTO = "auto"  # the penalty of the best cross-validated partial likelihood (glmnet lambda.min)
AUTO_1SE = "auto_1se"  # the largest within one standard error of it (glmnet lambda.1se)
RULES = {AUTO: "min", AUTO_1SE: "1se"}
GRID = tuple(float(x) for x in 10.0 ** np.arange(-3.5, 0.51, 0.5))  # 3e-4 ... 3.2
INNER_SPLITS = 5
MAX_PATIENTS = 1000
SEED = 0
PATIENCE = 2  # stop down the path after this many penalties worse than the best so far
INNER_TOL = 1e-7  # relative change of the log-likelihood that ends an inner Newton fit


@dataclass(frozen=True)
class PenaltyChoice:
    """One cause's choice: ``penalizer`` for the fit on all rows, the grid and its criterion."""

    penalizer: float
    selected: float  # the grid value chosen on the selection rows (mean scale)
    grid: tuple
    cvpl: tuple  # cross-validated log partial likelihood per grid value (-inf: no fit)
    se: float  # its standard error at the best value (glmnet's, from the folds' contributions)
    rule: str  # "min" or "1se"
    n_patients: int  # patients in the inner split (all, or the subset)
    n_rows: int


def check_penalizer(value, l1_ratio: float = 0.0) -> None:
    """A ModelError unless ``value`` is a number >= 0, or "auto" with a ridge penalty."""
    allowed = f"a number >= 0, '{AUTO}' or '{AUTO_1SE}'"
    if isinstance(value, str):
        if value not in RULES:
            raise ModelError(f"penalizer must be {allowed}, not {value!r}.")
        if l1_ratio:
            raise ModelError(f"penalizer '{value}' chooses a ridge penalty: set l1_ratio 0, "
                             "or give a numeric penalizer.")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ModelError(f"penalizer must be {allowed}, not {value!r}.")


def resolve_penalizer(penalizer, Z, time, event, cause: int, *, cause_specific: bool,
                      strata=None, groups=None) -> tuple[float, PenaltyChoice | None]:
    """The penalty of one cause's fit: ``penalizer`` itself, or ``auto``'s choice."""
    if penalizer not in RULES:
        return float(penalizer), None
    choice = choose_penalizer(Z, time, event, cause, cause_specific=cause_specific,
                              strata=strata, groups=groups, rule=RULES[penalizer])
    return choice.penalizer, choice


def choose_penalizer(Z, time, event, cause: int = 1, *, cause_specific: bool = True,
                     strata=None, groups=None, grid=GRID, n_splits: int = INNER_SPLITS,
                     max_patients: int = MAX_PATIENTS, seed: int = SEED,
                     rule: str = "min") -> PenaltyChoice:
    """Choose the ridge penalty of ``cause`` by cross-validated partial likelihood (see above).

    cause_specific: a cause-specific Cox fit (the other cause is a censoring) rather than
    Fine–Gray's subdistribution hazard. groups: patient id per row (stacked landmarks).
    rule: "min" (the best criterion) or "1se" (the largest penalty within one standard error
    of it, the SE from the spread of the folds' contributions, as glmnet's).
    """
    from relapse_ml.evaluation.crossval import fold_labels
    from relapse_ml.models.partial_likelihood import SubdistributionProblem

    Z = np.asarray(Z, dtype=float)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(int)
    n = time.size
    patient = np.arange(n) if groups is None else np.unique(np.asarray(groups),
                                                             return_inverse=True)[1].ravel()
    n_patients = int(patient.max()) + 1 if n else 0
    rows = np.arange(n)
    if n_patients > max_patients:  # a random subset of whole patients
        keep = np.zeros(n_patients, dtype=bool)
        keep[np.random.default_rng(seed).choice(n_patients, max_patients, replace=False)] = True
        rows = np.flatnonzero(keep[patient])
    Zs, ts, es, ps = Z[rows], time[rows], event[rows], patient[rows]
    ss = None if strata is None else np.asarray(strata, dtype=float)[rows]
    fold = fold_labels(es, ps, n_splits=n_splits, seed=seed)[0]
    outcome = (es == cause).astype(int) if cause_specific else es
    kind = 1 if cause_specific else cause

    def problem(m):
        return SubdistributionProblem(Zs[m], ts[m], outcome[m], kind,
                                      strata=None if ss is None else ss[m])

    grid = np.sort(np.asarray(grid, dtype=float))[::-1]  # largest first: warm starts
    everyone = problem(np.ones(rows.size, dtype=bool))
    masks = [fold != k for k in np.unique(fold)]
    folds = [problem(m) for m in masks]
    betas = [None] * len(folds)
    cvpl = np.full(grid.size, -np.inf)
    per_fold = np.full((len(folds), grid.size), np.nan)
    path = {}  # grid index -> the folds' mean coefficients (a warm start for all rows)
    for i, lam in enumerate(grid):  # down the path, every fold at each penalty
        try:
            with np.errstate(over="ignore"):
                betas = [f.fit(lam, beta0=b, max_iter=100, tol=INNER_TOL)
                         for f, b in zip(folds, betas, strict=True)]
        except ModelError:  # no fit at this penalty (e.g. separation): nor at a smaller one
            break
        if any(separated(Zs[m], b) for m, b in zip(masks, betas, strict=True)):
            break  # the final fit's guard would refuse it (partial_likelihood.MAX_LP_SPREAD)
        path[i] = np.mean(betas, axis=0)
        per_fold[:, i] = [everyone.log_likelihood(b)[0] - f.log_likelihood(b)[0]
                          for f, b in zip(folds, betas, strict=True)]
        cvpl[i] = per_fold[:, i].sum()
        best = int(np.argmax(cvpl[:i + 1]))
        if i - best >= PATIENCE:  # the criterion has fallen at PATIENCE smaller penalties
            break
    if not np.isfinite(cvpl).any():
        raise ModelError("penalizer 'auto' found no penalty at which the Cox fit converges; "
                         "give a numeric penalizer (e.g. 1).")
    best = int(np.argmax(cvpl))
    # glmnet's standard error (cv.glmnet, Cox, grouped): each fold's contribution per event of
    # the cause in that fold, their event-weighted spread / sqrt(K - 1), on the total's scale
    w = np.array([np.sum(outcome[fold == k] == kind) for k in np.unique(fold)], dtype=float)
    se = 0.0
    if len(folds) > 1 and w.sum() > 0:
        per_event = per_fold[:, best] / np.maximum(w, 1.0)
        mean = np.average(per_event, weights=w)
        se = float(np.sqrt(np.average((per_event - mean) ** 2, weights=w) / (len(folds) - 1))
                   * w.sum())
    if rule == "1se":  # the largest penalty (earliest on the path) within one SE of the best
        best = int(np.flatnonzero(cvpl >= cvpl[best] - se)[0])
    elif rule != "min":
        raise ModelError(f"rule must be 'min' or '1se', not {rule!r}")
    best = _not_separated(everyone, Zs, grid, best, path)
    selected = float(grid[best])
    return PenaltyChoice(penalizer=selected * rows.size / max(n, 1), selected=selected,
                         grid=tuple(grid[::-1].tolist()), cvpl=tuple(cvpl[::-1].tolist()),
                         se=se, rule=rule, n_patients=int(np.unique(ps).size),
                         n_rows=int(rows.size))


def chosen_penalizers(model) -> dict[int, float] | None:
    """The penalties ``auto`` chose in a fitted linear model (or a trajectory step around one):
    ``{cause: penalizer}``; None for a numeric penalizer or another model."""
    inner = getattr(model, "model_", model)  # a trajectory step's inner model
    choices = getattr(inner, "penalty_choices_", None)
    if not choices:
        return None
    return {int(k): float(c.penalizer) for k, c in choices.items()}


def _not_separated(everyone, Z, grid, best: int, path: dict) -> int:
    """The chosen grid index, moved to larger penalties (smaller index) while the fit on all
    the rows at it separates events (`partial_likelihood.separated`): the final fit's guard
    would refuse it. One extra fit, warm-started from the folds' coefficients, where nothing
    separates."""
    while True:
        try:
            with np.errstate(over="ignore"):
                beta = everyone.fit(grid[best], beta0=path.get(best), max_iter=100,
                                    tol=INNER_TOL)
            if not separated(Z, beta):
                return best
        except ModelError:
            pass
        if best == 0:
            raise ModelError("penalizer 'auto' found no penalty at which the fit on all rows "
                             "converges (a feature separates events); give a larger numeric "
                             "penalizer or fewer features.")
        best -= 1
