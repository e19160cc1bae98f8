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
    mean_oof, aj = mean_incidence(oof_cif, oof_times, time, event, tau)
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


def mean_incidence(oof_cif: np.ndarray, oof_times: np.ndarray, time: np.ndarray,
                   event: np.ndarray, tau: float) -> tuple[float, float]:
    """``(mean out-of-fold predicted relapse incidence at tau, Aalen–Johansen estimate)``:
    calibration in the large (their difference is each model's ``mean_gap``, in probability
    units)."""
    from relapse_ml.models.aalen_johansen import aalen_johansen

    aj = float(aalen_johansen(time, event, [tau], cause=1)[0])
    j = int(np.argmin(np.abs(np.asarray(oof_times, float) - tau)))
    return float(np.nanmean(np.asarray(oof_cif)[..., j])), aj


def check_tuned_model(model_label: str, ipa: float, held_out: list[dict], model, X_all, tau: float,
                      tracking) -> GuardResult:
    """The same guard for `relapse-ml tune`'s model: its IPA on the data the search never saw
    (hold-out, or the mean over outer folds), its incidence on those rows against their
    Aalen–Johansen estimate, and the refitted model's in-sample mean incidence.

    held_out: one ``{"time", "event", "cif_tau": {"tuned": ...}}`` per test part."""
    time = np.concatenate([np.asarray(h["time"], float) for h in held_out])
    event = np.concatenate([np.asarray(h["event"]) for h in held_out])
    cif = np.concatenate([np.asarray(h["cif_tau"]["tuned"], float) for h in held_out])
    final = model.predict_cif(X_all, [tau], cause=1)[:, 0]
    return check_registration(model_label, ipa, cif[None, :, None], np.array([tau]), final,
                              time, event, tau, tracking)
