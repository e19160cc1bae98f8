"""Features known by landmark day L: one marker family (MRD, WT1, chimerism, declared markers),
recovery and declared events, GVHD, baseline, treatment.

Each feature is a small named function ``fn(ctx: FeatureContext) -> DataFrame``; configs
choose them by name (see `FEATURES`, `FEATURE_GROUPS`, `DEFAULT_FEATURES`).
"""

from relapse_ml.features.context import FeatureContext, FeatureSettings
from relapse_ml.features.registry import (
    DEFAULT_FEATURES,
    FEATURE_GROUPS,
    FEATURES,
    build_features,
    compute_features,
    resolve_features,
)

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURE_GROUPS",
    "FEATURES",
    "FeatureContext",
    "FeatureSettings",
    "build_features",
    "compute_features",
    "resolve_features",
]
