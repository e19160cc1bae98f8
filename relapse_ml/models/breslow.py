"""Breslow baselines and the incidence combined from cause-specific hazards.

The arithmetic lives in `relapse_ml.incidence` (numpy only, shared with the scoring path);
this module keeps the names the models import.
"""

from relapse_ml.incidence import (  # noqa: F401
    BreslowBaseline,
    _on_grid,
    _sum_with_key_at_least,
    breslow_baseline,
    cumulative_incidence_from_hazards,
)
