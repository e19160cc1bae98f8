"""Parameters of the generating process (disease kinetics, GVHD, NRM, drug), in one place.

Units: burden ``x`` is log10 of leukemic cells in % of marrow cells (x = -2 is the MFC
detection limit of 0.01 %, x = 0.7 is 5 % blasts); rates are per day; hazards are
multipliers of a cumulative baseline so that a step can integrate them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

STEP_DAYS = 14.0  # one step of the latent process; rates are held constant within it
PRE_STEPS = 5  # steps from transplant to randomization: node PRE_STEPS is the randomization day
BURDEN_FLOOR = -9.0  # about ten leukemic cells left in the body: eradicated for good
BURDEN_CAP = 2.0  # 100 % of marrow cells


@dataclass(frozen=True)
class GeneratorParams:
    """Kinetic and hazard constants of the simulator (recorded in ``meta.json``)."""

    # relapse threshold: burden at which relapse becomes manifest, logistic on log10 %
    # (scale 0.14: sd 0.25, i.e. most relapses are diagnosed at 2-15 % blasts)
    threshold_mean: float = 0.7
    threshold_scale: float = 0.14
    # graft-versus-leukemia
    is_damp: float = 0.55  # fraction of GVL suppressed by full immunosuppression
    is_taper_days: float = 60.0  # taper from full dose to withdrawal
    is_taper_after_agvhd: float = 90.0  # taper starts no earlier than aGVHD II+ onset + this
    is_level_cgvhd: float = 0.6  # immunosuppression restarted for moderate/severe cGVHD
    agvhd_gvl_boost: float = 0.8  # extra GVL while aGVHD II+ is active (full chimerism only)
    cgvhd_gvl_boost: tuple[float, float, float, float] = (0.0, 0.4, 0.8, 0.8)  # by cGVHD grade
    full_chimerism_below: float = 0.05  # recipient fraction below which the graft is "full"
    escape_gvl_loss: float = 0.7  # GVL lost after immune escape (e.g. HLA loss)
    escape_burden_ref: float = -3.0  # escape hazard is kin.escape_rate at this burden ...
    escape_burden_slope: float = 0.5  # ... and scales as 10^(slope * (x - ref)) ...
    escape_burden_cap: float = 10.0  # ... up to this multiple
    # process noise: the net growth of the burden drifts as an Ornstein-Uhlenbeck process
    # (stationary sd in log10 per day, correlation time in days; see `disease`). Tuned so
    # that the oracle's C-index at day 60 is about 0.86 with the calibration kept.
    drift_sd: float = 0.025
    drift_days: float = 90.0
    # recipient (normal) hematopoiesis, log10 fraction
    rho_growth: float = 0.003
    rho_kill: float = 0.5  # recipient cells are killed at this multiple of the GVL rate
    rho_floor: float = -4.0
    rho_cap: float = -0.2218  # log10(0.6)
    # acute GVHD: cumulative hazard scale x Gamma(3, 14 d) distribution function
    agvhd_shape: float = 3.0
    agvhd_scale_days: float = 14.0
    agvhd_grade_probs: tuple[float, float, float, float] = (0.30, 0.42, 0.20, 0.08)
    agvhd_active_days: tuple[float, float, float, float] = (21.0, 35.0, 56.0, 84.0)  # by grade
    # chronic GVHD: no onset before day 90, then exponential(250 d) shape, mass 1
    cgvhd_start_day: float = 90.0
    cgvhd_tau_days: float = 250.0
    cgvhd_after_agvhd: float = 1.8  # hazard multiplier after aGVHD II+
    cgvhd_grade_probs: tuple[float, float, float] = (0.45, 0.35, 0.20)
    # non-relapse mortality: baseline a * exp(-t / tau) + b per day
    nrm_a: float = 0.00035
    nrm_tau_days: float = 200.0
    nrm_b: float = 0.00008
    nrm_pre_engraftment: float = 2.0
    nrm_graft_failure: float = 8.0
    nrm_agvhd34: float = 3.0  # after an aGVHD III-IV onset (grade III-IV raises NRM 2.7-3.9x)
    nrm_agvhd2_active: float = 1.5
    nrm_cgvhd: tuple[float, float, float, float] = (1.0, 1.0, 1.5, 3.0)  # by cGVHD grade
    post_relapse_death_rate: float = 0.004  # median survival after relapse ~ 6 months
    # sorafenib course (400 mg twice daily, 52 weeks planned)
    sorafenib_days: float = 364.0
    dose_mg: tuple[int, int, int] = (800, 400, 200)
    dose_fraction: tuple[float, float, float] = (1.0, 0.7, 0.45)
    reduction_a: float = 0.004  # dose-reduction hazard a * exp(-s / tau) + b, s = days on drug
    reduction_tau_days: float = 60.0
    reduction_b: float = 0.0003
    tox_stop_a: float = 0.0012
    tox_stop_tau_days: float = 90.0
    tox_stop_b: float = 0.0002
    other_stop_rate: float = 0.0001
