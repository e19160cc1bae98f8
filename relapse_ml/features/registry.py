"""Feature names -> functions, groups of names, the default set, and `build_features`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from relapse_ml.errors import ConfigError
from relapse_ml.features import baseline, chimerism, gvhd, markers, recovery, trajectory, treatment
from relapse_ml.features.context import FeatureContext, FeatureSettings

FeatureFn = Callable[[FeatureContext], pd.DataFrame]

_FUNCTIONS: tuple[FeatureFn, ...] = (
    baseline.baseline,
    baseline.extra,
    markers.extra_markers,
    recovery.extra_events,
    recovery.engraftment,
    *markers.MARKER_FUNCTIONS,
    chimerism.chimerism_latest,
    chimerism.chimerism_lowest,
    chimerism.chimerism_mixed,
    chimerism.chimerism_trend,
    chimerism.chimerism_days_since,
    gvhd.agvhd_max_grade,
    gvhd.agvhd_active,
    gvhd.cgvhd_max_grade,
    treatment.arm,
    treatment.sorafenib_days,
    trajectory.marker_history,
)
FEATURES: dict[str, FeatureFn] = {fn.__name__: fn for fn in _FUNCTIONS}
# features a config asks for by name (not in the default set): the data they need is rare
_OPTIONAL: tuple[FeatureFn, ...] = (recovery.platelet_recovery, markers.blood_counts)


def _starting(prefix: str) -> tuple[str, ...]:
    return tuple(n for n in FEATURES if n.startswith(prefix))


# a group name in a config stands for all of its features
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "mrd_mfc": _starting("mrd_mfc_"),
    "wt1": _starting("wt1_"),
    "chimerism": _starting("chimerism_"),
    "gvhd": ("agvhd_max_grade", "agvhd_active", "cgvhd_max_grade"),
    "treatment": ("arm", "sorafenib_days"),
    "markers": _starting("mrd_mfc_") + _starting("wt1_") + _starting("chimerism_"),
    "recovery": ("engraftment", "platelet_recovery"),
    "declared": ("extra", "extra_markers", "extra_events"),
}

# Everything except ``sorafenib_days``: exposure by L is a consequence of the arm (and of
# toxicity), so a benefit analysis that flips the arm would pair it with an impossible
# exposure. Ask for it by name for purely prognostic models.
# ``marker_history`` is no feature but hidden raw histories (``_obs:*``) for the
# marker-trajectory model step; it is added when a config names a ``trajectory`` model.
DEFAULT_FEATURES: tuple[str, ...] = tuple(
    n for n in FEATURES if n not in ("sorafenib_days", "marker_history")
)
FEATURES.update({fn.__name__: fn for fn in _OPTIONAL})


def resolve_features(features: str | Iterable[str] | None = None) -> list[str]:
    """Feature-function names for a config's list (groups expanded, duplicates dropped).

    ``None`` means `DEFAULT_FEATURES`. An unknown name raises `ConfigError` listing the
    allowed names.
    """
    if features is None:
        return list(DEFAULT_FEATURES)
    if isinstance(features, str):
        features = [features]
    out: list[str] = []
    for name in features:
        if name in FEATURE_GROUPS:
            members = FEATURE_GROUPS[name]
        elif name in FEATURES:
            members = (name,)
        else:
            raise ConfigError(
                f"unknown feature {name!r}; allowed features: {', '.join(FEATURES)}; "
                f"groups: {', '.join(FEATURE_GROUPS)}"
            )
        out.extend(m for m in members if m not in out)
    return out


def compute_features(
    ctx: FeatureContext, features: str | Iterable[str] | None = None
) -> pd.DataFrame:
    """Run the named feature functions on a context and join their columns (floats)."""
    frames = []
    for name in resolve_features(features):
        frame = FEATURES[name](ctx)
        if not frame.index.equals(ctx.index):
            raise RuntimeError(f"feature {name!r} returned rows not aligned with the patients")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(index=ctx.index)
    X = pd.concat(frames, axis=1)
    # marker features each carry the marker's shared ``*_missing`` column: keep one
    return X.loc[:, ~X.columns.duplicated()].astype(float)


def build_features(
    cohort,
    landmark_day: float,
    features: str | Iterable[str] | None = None,
    settings: FeatureSettings | None = None,
) -> pd.DataFrame:
    """Features of every patient at ``landmark_day`` from data on or before it.

    No at-risk filtering (for scoring one patient); indexed by ``patient_id`` in the
    cohort's order; float columns, NaN where a value is unknown (see ``*_missing``).
    """
    return compute_features(FeatureContext.at_landmark(cohort, landmark_day, settings), features)
