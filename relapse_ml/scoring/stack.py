"""Lean twin of `relapse_ml.models.stack.StackedCompetingRisk` for bundles (numpy only).

The bundle carries the stack's weights and each member's own lean twin — the null model
(Aalen–Johansen, per landmark on stacked landmarks), single models and trajectory steps, as
`scoring/numbers.py` exports them alone; nothing here re-implements a member. Scoring mixes
the members' incidences with the weights, as ``StackedCompetingRisk.predict_cumulative_incidence``
does: F_k = Σ_m w_m F_k,m for both causes, event-free survival 1 − F_1 − F_2.

Each member reads its own feature columns (a member fitted without the hidden ``_obs:*``
marker histories does not see them), picked by name from the bundle's feature row. A
member's extra files (XGBoost boosters) are stored under ``stackN_`` prefixes so that two
members never collide.
"""

from __future__ import annotations

import numpy as np

from relapse_ml.errors import ModelError
from relapse_ml.incidence import assemble_incidence
from relapse_ml.scoring.arrays import check_times, prefixed, unprefixed
from relapse_ml.scoring.predict import TREE_TYPES, xgboost_version
from relapse_ml.weights import check_weights

STACK_SPEC_VERSION = 1  # of the ``spec`` below; a reader refuses another


class StackNumbers:
    """``weights``: every member's weight (label → w, the null model's under
    ``aalen_johansen``), as the stack chose them; ``members``: ``[(label, lean twin, the
    member's feature columns)]`` of the members the stack refitted (a weight below 1e-6 is
    neither refitted nor predicted, as in the model); ``feature_columns``: the bundle's."""

    model_type = "stack"

    def __init__(self, weights: dict[str, float], members: list[tuple[str, object, list[str]]],
                 feature_columns: list[str]):
        self.weights = check_weights(weights)
        unknown = [lab for lab, _, _ in members if lab not in self.weights]
        if unknown or not members:
            raise ModelError(f"the stack's members {unknown} have no weight; re-export the model")
        self.members = [(str(lab), self.weights[lab], num, list(cols)) for lab, num, cols in members]
        self.feature_columns = list(feature_columns)
        pos = {c: i for i, c in enumerate(self.feature_columns)}
        missing = sorted({c for *_, cols in self.members for c in cols if c not in pos})
        if missing:
            raise ModelError(f"the stack's members use columns absent from the bundle's "
                             f"features: {missing[:5]}")
        self._index = [np.asarray([pos[c] for c in cols], dtype=int)
                       for *_, cols in self.members]

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        t = check_times(times)
        X = np.asarray(X, dtype=float)
        f1 = np.zeros((X.shape[0], t.size))
        f2 = np.zeros_like(f1)
        for (_, w, numbers, _), idx in zip(self.members, self._index, strict=True):
            if w > 0:
                inc = numbers.predict_incidence(X[:, idx], t)
                f1 += w * inc[:, 1]
                f2 += w * inc[:, 2]
        return assemble_incidence(f1, f2)

    def to_files(self) -> tuple[dict, dict[str, bytes]]:
        spec = {"stack_spec_version": STACK_SPEC_VERSION, "weights": dict(self.weights),
                "members": [],
                "xgboost": xgboost_version() if self.uses_trees() else None}
        files: dict[str, bytes] = {}
        for i, (label, _, numbers, cols) in enumerate(self.members):
            prefix = f"stack{i}_"
            mspec, mfiles = numbers.to_files()
            files.update(prefixed(mfiles, prefix))
            spec["members"].append({"label": label, "model_type": numbers.model_type,
                                    "spec": mspec, "columns": cols, "file_prefix": prefix})
        return spec, files

    def uses_trees(self) -> bool:
        return any(_uses_trees(n) for _, _, n, _ in self.members)

    @classmethod
    def from_files(cls, spec, files, feature_columns, member_from_files):
        """``member_from_files(model_type, spec, files, columns)`` rebuilds one member (the
        caller's, `numbers.numbers_from_files`: no import cycle)."""
        version = spec.get("stack_spec_version")
        if version != STACK_SPEC_VERSION:
            raise ModelError(f"the bundle's stack is written in stack format {version!r}; this "
                             f"relapse-ml reads {STACK_SPEC_VERSION} — re-export the model with it")
        want = spec.get("xgboost")
        if want and str(want).split(".")[:2] != str(xgboost_version()).split(".")[:2]:
            raise ModelError(
                f"the stack's boosters were written by XGBoost {want}, this environment has "
                f"{xgboost_version()} (major.minor must match); re-export the model here or "
                f"install xgboost {want}")
        members = []
        for m in spec["members"]:
            if m["model_type"] == "stack":
                raise ModelError("a stack member cannot be a stack")
            own = unprefixed(files, str(m["file_prefix"]))
            try:
                numbers = member_from_files(m["model_type"], m["spec"], own, list(m["columns"]))
            except KeyError as err:
                raise ModelError(f"stack member '{m['label']}' refers to a file missing from "
                                 f"the bundle: {err}") from None
            members.append((m["label"], numbers, list(m["columns"])))
        return cls(spec["weights"], members, feature_columns)

    @classmethod
    def of(cls, model, feature_columns: list[str], member_numbers) -> StackNumbers:
        """The twin of a fitted `StackedCompetingRisk`; ``member_numbers(model)`` gives each
        member's twin (`numbers.numbers_from_model`). Members with weight 0 are left out
        (the fitted stack did not refit them either)."""
        from relapse_ml.models.stack import NULL

        parts = [(NULL, model.null_)] + list(model.members_.items())
        members = [(label, member_numbers(m), [str(c) for c in m.feature_names_in_])
                   for label, m in parts]
        return cls(dict(model.weights_), members, feature_columns)


def _uses_trees(numbers) -> bool:
    if numbers.model_type in TREE_TYPES:
        return True
    return getattr(numbers, "inner_type", None) in TREE_TYPES  # a trajectory step's inner model
