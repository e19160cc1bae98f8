"""The generating process: leukemia burden under graft-versus-leukemia, GVHD, drug and NRM.

Each patient's log10 leukemic burden ``x`` changes at the net rate
``growth * (1 - drug) - GVL(t) + drift(t)``. GVL grows with immune reconstitution, is damped by
immunosuppression, is boosted by active GVHD only while the graft is full donor (the
threshold interaction), and is partly lost after immune escape. Relapse is the first
time ``x`` reaches the patient's threshold (about 5 % blasts). Non-relapse death has a
hazard raised by age, comorbidity, donor type, aGVHD III-IV, cGVHD and, in one scenario,
sorafenib.

The drift is the process noise: an Ornstein-Uhlenbeck process (stationary sd
`GeneratorParams.drift_sd` log10 per day, correlation time `drift_days`), zero at
transplant and updated with one standard normal per patient and step. It stands for
what moves the leukemia-immune balance and no state at day 60 foretells: clonal
evolution, infections and their treatment, GVHD flares, the actual pace of the
immunosuppression taper, drug exposure. With it the same latent state at randomization
leads to relapse on some futures and not on others (2-year risks spread over 0-1
instead of piling at 0 and 1), as in real post-transplant leukemia.

Time runs on a per-patient grid of `STEP_DAYS` steps whose node `PRE_STEPS` is the
randomization day R (node k is at ``max(0, R + 14 (k - 5))``). Rates are held at their
value at the start of a step; events fall at continuous times inside it. Every
discrete event (aGVHD, cGVHD, escape, dose reduction, stops) fires when its cumulative
hazard reaches a unit-exponential draw, so the same code serves the sampled course
(one draw per patient) and the Monte Carlo truth (many draws, relapse and death then
integrated, not sampled).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import logit

from relapse_ml.simulate.params import (
    BURDEN_CAP,
    BURDEN_FLOOR,
    PRE_STEPS,
    STEP_DAYS,
    GeneratorParams,
)
from relapse_ml.simulate.scenarios import Scenario
from relapse_ml.simulate.state import (
    STOP_COMPLETED,
    STOP_NONE,
    STOP_OTHER,
    STOP_TOXICITY,
    Kinetics,
    Segment,
    State,
)

_LN10 = float(np.log(10.0))


def node_day(rand_day: np.ndarray, k: int) -> np.ndarray:
    """Day of node ``k`` on each patient's grid (node `PRE_STEPS` is the randomization day)."""
    return np.maximum(0.0, rand_day + STEP_DAYS * (k - PRE_STEPS))


def grade_from_uniform(u: np.ndarray, probs: tuple[float, ...], shift: np.ndarray) -> np.ndarray:
    """Ordinal grade 1..len(probs) from a uniform, shifted up by ``shift`` on the logistic scale."""
    cuts = logit(np.cumsum(probs)[:-1])
    latent = logit(np.clip(u, 1e-12, 1 - 1e-12)) + shift
    return (1 + (latent[:, None] > cuts[None, :]).sum(axis=1)).astype(np.int8)


def _gamma3_cdf(t: np.ndarray, scale: float) -> np.ndarray:
    u = np.maximum(t, 0.0) / scale
    return 1.0 - np.exp(-u) * (1.0 + u + 0.5 * u * u)


def _decay_integral(s: np.ndarray, a: float, tau: float, b: float) -> np.ndarray:
    """Integral over [0, s] of a * exp(-u / tau) + b."""
    s = np.maximum(s, 0.0)
    return a * tau * (1.0 - np.exp(-s / tau)) + b * s


@dataclass
class Clock:
    """Per-patient quantities of one step that depend on time only (computed once per patient)."""

    t0: np.ndarray
    t1: np.ndarray
    dt: np.ndarray
    inv_dt: np.ndarray
    gvl: np.ndarray  # GVL capacity reached by immune reconstitution at t0
    nrm: np.ndarray  # baseline cumulative NRM hazard over the step, with the patient's multiplier
    ag: np.ndarray  # cumulative aGVHD hazard falling in the step
    cg: np.ndarray  # cumulative cGVHD hazard falling in the step (before cg_mult)
    esc: np.ndarray  # escape hazard over the step at the reference burden
    red: np.ndarray  # drug hazards over the step (time on drug counted from randomization)
    tox: np.ndarray
    oth: np.ndarray


def clock(kin: Kinetics, k: int, scen: Scenario, P: GeneratorParams) -> Clock:
    """The time-only parts of step ``k`` (arrays shaped like ``kin``'s fields)."""
    t0, t1 = node_day(kin.rand_day, k), node_day(kin.rand_day, k + 1)
    dt = t1 - t0
    s0, s1 = t0 - kin.rand_day, t1 - kin.rand_day
    c0 = np.maximum((t0 - P.cgvhd_start_day) / P.cgvhd_tau_days, 0.0)
    c1 = np.maximum((t1 - P.cgvhd_start_day) / P.cgvhd_tau_days, 0.0)
    pre = np.where(t0 < kin.engraft_day, P.nrm_pre_engraftment, 1.0)
    pre = np.where(np.isinf(kin.engraft_day), pre * P.nrm_graft_failure, pre)
    tox = kin.tox_mult * np.where(kin.harm, scen.harm_tox, 1.0)
    nrm = _decay_integral(t1, P.nrm_a, P.nrm_tau_days, P.nrm_b) - _decay_integral(
        t0, P.nrm_a, P.nrm_tau_days, P.nrm_b
    )
    red = _decay_integral(s1, P.reduction_a, P.reduction_tau_days, P.reduction_b) - _decay_integral(
        s0, P.reduction_a, P.reduction_tau_days, P.reduction_b
    )
    stop = _decay_integral(s1, P.tox_stop_a, P.tox_stop_tau_days, P.tox_stop_b) - _decay_integral(
        s0, P.tox_stop_a, P.tox_stop_tau_days, P.tox_stop_b
    )
    return Clock(
        t0=t0,
        t1=t1,
        dt=dt,
        inv_dt=np.where(dt > 0, 1.0 / np.where(dt > 0, dt, 1.0), 0.0),
        gvl=kin.gvl * (1.0 - np.exp(-t0 / kin.tau_recon)),
        nrm=np.exp(kin.nrm_lp) * pre * nrm,
        ag=kin.agvhd_risk
        * (_gamma3_cdf(t1, P.agvhd_scale_days) - _gamma3_cdf(t0, P.agvhd_scale_days)),
        cg=kin.cgvhd_risk * (np.exp(-c0) - np.exp(-c1)),
        esc=kin.escape_rate * dt,
        red=tox * red,
        tox=tox * stop,
        oth=P.other_stop_rate * dt,
    )


def _when(mask, h_old, d, e, ck: Clock) -> np.ndarray:
    """Event times inside the step for the rows of ``mask`` (hazard constant within the step).

    ``mask`` may be a boolean array or the tuple of its `np.nonzero` indices (cheaper
    when several arrays are read at the same few rows).
    """
    ix = np.nonzero(mask) if isinstance(mask, np.ndarray) else mask
    shape = h_old.shape
    t0 = np.broadcast_to(ck.t0, shape)[ix]
    dt = np.broadcast_to(ck.dt, shape)[ix]
    d = np.broadcast_to(d, shape)[ix]
    return t0 + dt * (e[ix] - h_old[ix]) / d


def drug_effect(st: State, kin: Kinetics, scen: Scenario, P: GeneratorParams) -> np.ndarray | float:
    """Fraction of intrinsic growth removed by sorafenib at the current dose (0 off drug)."""
    if scen.growth_cut == 0.0 or not st.on_drug.any():
        return 0.0
    f0, f1, f2 = P.dose_fraction
    frac = f0 - (f0 - f1) * (st.h_red >= st.e_red1) - (f1 - f2) * (st.h_red >= st.e_red2)
    return (scen.growth_cut * kin.sensitivity) * frac * st.on_drug


def start_drug(st: State, kin: Kinetics, on: np.ndarray, P: GeneratorParams) -> None:
    """Start sorafenib at full dose on the randomization day for rows where ``on``."""
    st.on_drug = on.copy()
    st.drug_end = np.where(on, kin.rand_day + P.sorafenib_days, -np.inf)


def _burden_rates(kin: Kinetics, st: State, ck: Clock, scen: Scenario, P: GeneratorParams):
    """Net slope of the burden and GVL kill at the start of a step (and two flags reused)."""
    is_level = np.maximum(
        np.minimum(1.0 - (ck.t0 - st.is_start) / P.is_taper_days, 1.0), st.is_floor
    )
    recipient = np.exp(_LN10 * st.lrho) + np.exp(_LN10 * st.x - 2.0 * _LN10)
    full = recipient < P.full_chimerism_below
    ag_active2 = ck.t0 < st.ag_until
    escaped = st.h_esc >= st.e_esc
    boost = 1.0 + full * (P.agvhd_gvl_boost * ag_active2 + st.cg_boost)
    kill = ck.gvl * (1.0 - P.is_damp * is_level) * boost * (1.0 - P.escape_gvl_loss * escaped)
    growth = kin.growth * (1.0 - drug_effect(st, kin, scen, P))
    slope = (growth - kill + st.drift) * ~st.erad
    return slope, kill, ag_active2, escaped


def drug_sensitivity(kin: Kinetics, st: State, scen: Scenario, P: GeneratorParams,
                     cytogenetics: np.ndarray | None = None) -> np.ndarray:
    """Each patient's sensitivity to the drug, fixed from the (arm-independent) state at R.

    In burden-dependent scenarios the drug acts on a clone that is detectable or rising
    at the start of maintenance: a logistic function of the burden projected
    ``scen.projection_days`` ahead at the current untreated slope. Otherwise everyone is
    fully sensitive. With ``scen.responder_cytogenetics`` only the patients whose recorded
    ``cytogenetics`` (each patient's `cytogenetic_risk`) is that level respond at all.
    """
    if not scen.burden_dependent:
        sens = np.ones(len(st))
    else:
        off = replace(st, on_drug=np.zeros(len(st), bool))
        ck = clock(kin, PRE_STEPS, scen, P)
        slope = _burden_rates(kin, off, ck, scen, P)[0]
        projected = np.where(st.erad, BURDEN_FLOOR, st.x + scen.projection_days * slope)
        sens = 1.0 / (1.0 + np.exp((scen.burden_mid - projected) / scen.burden_width))
    if scen.responder_cytogenetics:
        sens = sens * (np.asarray(cytogenetics) == scen.responder_cytogenetics)
    return sens


def step(
    kin: Kinetics,
    st: State,
    k: int,
    scen: Scenario,
    P: GeneratorParams,
    sample: bool,
    z: np.ndarray | None = None,
) -> Segment:
    """Advance ``st`` in place from node ``k`` to node ``k + 1``; return the step's segment.

    With ``sample`` the relapse and NRM times are drawn (``threshold``, ``e_nrm``) and the
    drug course is recorded; otherwise only the path of the latent state moves on. The
    fields of ``kin`` may be (rows, 1) columns broadcasting against (rows, draws) state.
    Masks multiply rather than select: `np.where` costs several times an arithmetic op.
    """
    ck = clock(kin, k, scen, P)
    t0, dt = ck.t0, ck.dt
    slope, kill, ag_active2, escaped = _burden_rates(kin, st, ck, scen, P)

    nrm_mult = st.nrm_gvhd * (1.0 + st.ag_nrm * ag_active2)
    if scen.harm_nrm != 1.0 and st.on_drug.any():
        nrm_mult = nrm_mult * (1.0 + (scen.harm_nrm - 1.0) * (kin.harm & st.on_drug))
    d_nrm = ck.nrm * nrm_mult
    seg = Segment(t0, ck.t1, st.x, slope, st.top, st.h_nrm, d_nrm * ck.inv_dt)

    # ---- sampled outcomes inside the step: relapse (threshold crossing) vs NRM
    x1 = st.x + slope * dt
    h_nrm = st.h_nrm + d_nrm
    if sample:
        alive = np.isnan(st.t_relapse) & np.isnan(st.t_nrm)
        rel = alive & (x1 >= st.threshold) & (st.top < st.threshold)
        t_rel = np.full(rel.shape, np.inf)
        t_rel[rel] = np.broadcast_to(t0, rel.shape)[rel] + (st.threshold - st.x)[rel] / slope[rel]
        dies = alive & (st.h_nrm < st.e_nrm) & (h_nrm >= st.e_nrm)
        t_die = np.full(dies.shape, np.inf)
        t_die[dies] = _when(dies, st.h_nrm, d_nrm, st.e_nrm, ck)
        first_rel = rel & (t_rel <= t_die)
        st.t_relapse = np.where(first_rel, t_rel, st.t_relapse)
        st.t_nrm = np.where(dies & ~first_rel, t_die, st.t_nrm)
    st.h_nrm = h_nrm

    # ---- the latent path moves on
    st.erad = st.erad | (x1 <= BURDEN_FLOOR)
    st.x = np.minimum(np.maximum(x1, BURDEN_FLOOR), BURDEN_CAP)
    st.top = np.maximum(st.top, st.x)
    if z is not None:
        st.drift = drift_update(st.drift, dt, z, P)
    st.lrho = np.minimum(
        np.maximum(st.lrho + (P.rho_growth * dt) - (P.rho_kill * dt) * kill, P.rho_floor), P.rho_cap
    )
    _gvhd_step(kin, st, ck, P)

    # escape variants arise in proportion to the number of leukemic cells
    log_clone = np.minimum(
        P.escape_burden_slope * (seg.x0 - P.escape_burden_ref), np.log10(P.escape_burden_cap)
    )
    st.h_esc = st.h_esc + ck.esc * np.exp(_LN10 * log_clone) * ~(escaped | st.erad)

    if st.on_drug.any():
        _drug_step(st, ck, sample)
    return seg


def drift_update(drift: np.ndarray, dt, z: np.ndarray, P: GeneratorParams) -> np.ndarray:
    """The growth drift after ``dt`` days, given standard normal ``z`` (exact OU transition)."""
    phi = np.exp(-np.asarray(dt) / P.drift_days)
    return phi * drift + (P.drift_sd * np.sqrt(1.0 - phi * phi)) * z


def _gvhd_step(kin: Kinetics, st: State, ck: Clock, P: GeneratorParams) -> None:
    """Acute and chronic GVHD onsets in the step, with their lasting effects."""
    free = st.ag_grade == 0
    h_new = st.h_ag + ck.ag
    fires = free & (h_new >= st.e_ag)
    if fires.any():
        ix = np.nonzero(fires)
        t = _when(ix, st.h_ag, ck.ag, st.e_ag, ck)
        g = grade_from_uniform(
            st.u_ag[ix], P.agvhd_grade_probs, np.broadcast_to(kin.severity, fires.shape)[ix]
        )
        st.ag_grade[ix] = g
        st.ag_onset[ix] = t
        st.ag_until[ix] = np.where(g >= 2, t + np.asarray(P.agvhd_active_days)[g - 1], -np.inf)
        st.ag_nrm[ix] = np.where(g == 2, P.nrm_agvhd2_active - 1.0, 0.0)
        st.is_start[ix] = np.where(
            g >= 2, np.maximum(st.is_start[ix], t + P.is_taper_after_agvhd), st.is_start[ix]
        )
        st.nrm_gvhd[ix] *= np.where(g >= 3, P.nrm_agvhd34, 1.0)
        st.cg_mult[ix] = np.where(g >= 2, P.cgvhd_after_agvhd, 1.0)
    st.h_ag = h_new

    free = st.cg_grade == 0
    d_cg = ck.cg * st.cg_mult
    h_new = st.h_cg + d_cg
    fires = free & (h_new >= st.e_cg)
    if fires.any():
        ix = np.nonzero(fires)
        t = _when(ix, st.h_cg, d_cg, st.e_cg, ck)
        g = grade_from_uniform(
            st.u_cg[ix], P.cgvhd_grade_probs, np.broadcast_to(kin.severity, fires.shape)[ix]
        )
        st.cg_grade[ix] = g
        st.cg_onset[ix] = t
        st.cg_boost[ix] = np.asarray(P.cgvhd_gvl_boost)[g]
        st.nrm_gvhd[ix] *= np.asarray(P.nrm_cgvhd)[g]
        st.is_floor[ix] = np.where(g >= 2, P.is_level_cgvhd, 0.0)
    st.h_cg = h_new


def _drug_step(st: State, ck: Clock, sample: bool) -> None:
    """Sorafenib dose reductions and stops (hazards of time on drug)."""
    on = st.on_drug
    h_red = st.h_red + ck.red * on
    h_tox = st.h_tox + ck.tox * on
    h_oth = st.h_oth + ck.oth * on
    if sample:
        red1 = on & (st.h_red < st.e_red1) & (h_red >= st.e_red1)
        red2 = on & (st.h_red < st.e_red2) & (h_red >= st.e_red2)
        st.t_red1[red1] = _when(red1, st.h_red, ck.red, st.e_red1, ck)
        st.t_red2[red2] = _when(red2, st.h_red, ck.red, st.e_red2, ck)
        tox = on & (h_tox >= st.e_tox)
        oth = on & (h_oth >= st.e_oth)
        done = on & (ck.t1 >= st.drug_end)
        t_tox = np.full(tox.shape, np.inf)
        t_tox[tox] = _when(tox, st.h_tox, ck.tox, st.e_tox, ck)
        t_oth = np.full(oth.shape, np.inf)
        t_oth[oth] = _when(oth, st.h_oth, ck.oth, st.e_oth, ck)
        first_tox = tox & (t_tox <= t_oth)
        reason = np.where(
            first_tox,
            STOP_TOXICITY,
            np.where(oth, STOP_OTHER, np.where(done, STOP_COMPLETED, STOP_NONE)),
        )
        when = np.where(first_tox, t_tox, np.where(oth, t_oth, st.drug_end))
        stopped = reason != STOP_NONE
        st.t_stop = np.where(stopped, when, st.t_stop)
        st.stop_reason = np.where(stopped, reason, st.stop_reason).astype(np.int8)
    st.h_red, st.h_tox, st.h_oth = h_red, h_tox, h_oth
    st.on_drug = on & (ck.t1 < st.drug_end) & (h_tox < st.e_tox) & (h_oth < st.e_oth)
