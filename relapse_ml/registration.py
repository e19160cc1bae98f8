"""The registration guard: no final model worse than the null model is registered silently.

Two checks on the model a training run picks (tracking section of the config):

* its cross-validated IPA at the horizon (pooled out-of-fold) is at least ``min_ipa`` (0: no
  worse than the Aalen–Johansen null model);
* its mean predicted relapse incidence at the horizon — out of fold, and in sample for the
  model refitted on all data — is within max(``max_incidence_gap``,
  ``max_incidence_gap_relative`` × AJ) of the Aalen–Johansen estimate AJ (defaults: 5 points
  or 25 % of the estimate, whichever is larger). A collapsed linear predictor shows here first:
  mean incidences of 0.5 % against an observed 27 %.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class GuardResult:
    """What the guard measured and, when it refuses, why (one line)."""

    ipa: float
    mean_oof: float
    mean_final: float
    aalen_johansen: float
    allowed_gap: float
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict:
        return asdict(self)


def check_registration(model_label: str, ipa: float, oof_cif: np.ndarray, oof_times: np.ndarray,
                       final_cif_tau: np.ndarray, time: np.ndarray, event: np.ndarray,
                       tau: float, tracking) -> GuardResult:
    """Check the final model. ``oof_cif``: (repeats, rows, times) out-of-fold relapse incidence
    on ``oof_times``; ``final_cif_tau``: the refitted model's in-sample incidence at ``tau``."""
    from relapse_ml.models.aalen_johansen import aalen_johansen

    aj = float(aalen_johansen(time, event, [tau], cause=1)[0])
    j = int(np.argmin(np.abs(np.asarray(oof_times, float) - tau)))
    mean_oof = float(np.nanmean(np.asarray(oof_cif)[..., j]))
    mean_final = float(np.mean(final_cif_tau))
    allowed = max(float(tracking.max_incidence_gap), float(tracking.max_incidence_gap_relative) * aj)
    reason = None
    if not np.isfinite(ipa) or ipa < tracking.min_ipa:
        reason = (f"{model_label}: cross-validated IPA {ipa:+.3f} at {tau:g} days is below "
                  f"{tracking.min_ipa:g} (worse than the null model)")
    else:
        for what, value in (("out-of-fold", mean_oof), ("refitted", mean_final)):
            if not np.isfinite(value) or abs(value - aj) > allowed:
                reason = (f"{model_label}: mean {what} predicted relapse incidence {value:.3f} at "
                          f"{tau:g} days is off the Aalen–Johansen estimate {aj:.3f} by more than "
                          f"{allowed:.3f}")
                break
    return GuardResult(ipa=float(ipa), mean_oof=mean_oof, mean_final=mean_final,
                       aalen_johansen=aj, allowed_gap=allowed, reason=reason)
