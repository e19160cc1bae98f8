"""True landmark risks under both arms, integrated over the generating process.

For a patient randomized on day R and alive and relapse-free at the landmark L:

    risk_a     = P(relapse in (L, L + tau]          | state at R, arm a, alive and relapse-free at L)
    rfs_risk_a = P(relapse or death in (L, L + tau] | same)

The state at R (burden and its running maximum, recipient chimerism, GVHD so far,
kinetics, the clone's escape potential) is arm-independent, so the truth never depends
on the arm actually assigned. Randomized quasi-Monte Carlo draws (a scrambled Sobol set,
shifted at random per patient) cover the future: the growth drift (one normal per step,
in principal-component order, see `drift_rotation`) and the discrete events (late aGVHD,
cGVHD, dose reductions and stops). Given each drawn path, relapse (threshold crossing, the threshold
conditioned to lie above the running maximum at R) and non-relapse death (its hazard)
are integrated inside each step rather than sampled. The same draws serve both arms
(common random numbers), which keeps the benefit's error small. Conditioning on being
event-free at L is the ratio of the two expectations. Draws are spent adaptively:
patients whose outcome the future hardly changes stop after a few.

What the oracle knows and a model cannot see: the latent burden (also below the
detection limit) and its running maximum, the patient's growth rate, GVL capacity and
reconstitution, the current growth drift, the GVHD and drug-hazard constants, the
clone's escape potential, and that the relapse threshold lies above the maximum burden
reached so far. What it does not know: the future itself (the drift from R on, the
threshold's value, later GVHD, escape timing, drug course, non-relapse death). So its
C-index is a ceiling below 1 (about 0.86 for relapse at day 60 over 2 years in the
default scenario), not a target any model can reach.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from relapse_ml.simulate.disease import (
    FUTURE_DRAWS,
    Kinetics,
    State,
    node_day,
    path_draws,
    start_drug,
    step,
)
from relapse_ml.simulate.params import PRE_STEPS, STEP_DAYS, GeneratorParams
from relapse_ml.simulate.scenarios import Scenario

TRUTH_COLUMNS = (
    "risk_control",
    "risk_sorafenib",
    "benefit",
    "rfs_risk_control",
    "rfs_risk_sorafenib",
    "rfs_benefit",
    "risk_control_se",
    "risk_sorafenib_se",
    "benefit_se",
    "rfs_benefit_se",
    "draws",
)


def _fresh_path(st: State, draws: dict[str, np.ndarray]) -> State:
    """The state at R with new draws for the future.

    The processes are memoryless, so their cumulative hazards restart at zero with fresh
    unit-exponential thresholds. Immune escape keeps its draw: the clone's escape
    potential is part of the latent state at R.
    """
    for name in FUTURE_DRAWS:
        setattr(st, name, draws[name])
    for name in ("h_nrm", "h_ag", "h_cg", "h_red", "h_tox", "h_oth"):
        setattr(st, name, np.zeros_like(st.x))
    return st


def _survival_threshold(m: np.ndarray, P: GeneratorParams) -> np.ndarray:
    """P(threshold > m): the chance the burden has not yet reached the relapse threshold."""
    return 1.0 / (1.0 + np.exp((m - P.threshold_mean) / P.threshold_scale))


def drift_rotation(n_steps: int, P: GeneratorParams) -> np.ndarray:
    """Orthogonal ``V`` such that ``z = V w`` orders the drift noise by its effect on the burden.

    Row j of ``z`` is the standard normal of future step j (every future step lasts
    `STEP_DAYS`). The columns of ``V`` are the right singular vectors of the linear map
    from ``z`` to the burden's deviation at the nodes, so the first coordinates of ``w``
    carry most of the variance of the path (the principal-component construction that
    makes quasi-Monte Carlo effective). ``V`` is orthogonal: ``z`` stays i.i.d. N(0, 1),
    exactly the noise of the sampled course.
    """
    phi = np.exp(-STEP_DAYS / P.drift_days)
    c = P.drift_sd * np.sqrt(1.0 - phi * phi)
    drift = np.zeros(n_steps)  # the drift in the current step, per unit of each z
    dev = np.zeros(n_steps)  # the burden's deviation at the current node, per unit of each z
    k = np.zeros((n_steps, n_steps))
    for j in range(n_steps):
        dev = dev + STEP_DAYS * drift
        k[j] = dev
        drift = phi * drift
        drift[j] += c
    _, _, vt = np.linalg.svd(k)
    return vt.T


def _integrate(
    kin: Kinetics,
    st: State,
    scen: Scenario,
    P: GeneratorParams,
    landmark: float,
    horizon: float,
    z: np.ndarray,
):
    """Per row: P(relapse in window), P(NRM in window), P(event-free at L), each given the path.

    Inside a step the burden is linear and the NRM hazard constant, so the chance of
    having reached the threshold at any time is exact; the relapse density is weighted
    by the NRM survival at the midpoint (geometric mean of the ends), and NRM by the
    mean relapse-free probability at the ends. Values at the window's start of a step
    are those at the end of the previous one, except in the step that holds L.
    """
    start, stop = float(landmark), float(landmark + horizon)
    inv_sf_r = 1.0 / np.maximum(_survival_threshold(st.top, P), 1e-300)
    rel = np.zeros(st.x.shape)
    nrm = np.zeros(st.x.shape)
    at_l = np.zeros(st.x.shape)
    sb = nb = None
    n_steps = int(np.ceil((stop - kin.rand_day.min()) / STEP_DAYS)) + 1
    for k in range(PRE_STEPS, PRE_STEPS + n_steps):
        seg = step(kin, st, k, scen, P, sample=False, z=z[k - PRE_STEPS])
        a = np.minimum(np.maximum(start, seg.t0), seg.t1) - seg.t0  # (rows, 1): offsets in the step
        b = np.minimum(np.maximum(stop, seg.t0), seg.t1) - seg.t0
        fresh = (a > 0) if sb is not None else np.ones_like(a, bool)
        if fresh.any():  # the step holding L (or the first one): values at L itself
            sa_new = _survival_threshold(np.maximum(seg.top0, seg.x0 + seg.slope * a), P) * inv_sf_r
            na_new = np.exp(-(seg.h0 + seg.nrm_rate * a))
            sa = sa_new if sb is None else np.where(fresh, sa_new, sb)
            na = na_new if nb is None else np.where(fresh, na_new, nb)
        else:
            sa, na = sb, nb
        holds_l = (seg.t0 <= start) & (start < seg.t1)
        if holds_l.any():
            at_l = np.where(holds_l, sa * na, at_l)
        sb = _survival_threshold(np.maximum(seg.top0, seg.x0 + seg.slope * b), P) * inv_sf_r
        nb = np.exp(-(seg.h0 + seg.nrm_rate * b))
        rel += (sa - sb) * np.sqrt(na * nb)
        nrm += (0.5 * (sa + sb)) * (na - nb)
        if np.all(node_day(kin.rand_day, k + 1) >= stop):
            break
    return rel, nrm, at_l


_SUMS = ("rel_c", "rel_s", "any_c", "any_s", "at_c", "at_s", "rel_c2", "rel_s2", "d_rel2", "d_any2")


def _draw_sums(
    kin, st, idx, u, rotation, scen, P, landmark_day, horizon_days
) -> dict[str, np.ndarray]:
    """Sums over the draws ``u`` (patients, draws, dims) of the per-path quantities.

    The first dims are the discrete events' uniforms, the rest the drift noise's
    principal coordinates (see `drift_rotation`).
    """
    m, draws = u.shape[0], u.shape[1]
    path = path_draws({name: u[:, :, j] for j, name in enumerate(FUTURE_DRAWS)})
    w = ndtri(np.clip(u[:, :, len(FUTURE_DRAWS) :], 1e-12, 1.0 - 1e-12))
    z = np.tensordot(rotation, w, axes=([1], [2]))  # (steps, patients, draws): z[j] contiguous
    k_rows = kin.take(idx).column()
    at_r = st.take(idx)
    arms = []
    for on in (False, True):  # the same paths under both arms: common random numbers
        s_rows = _fresh_path(at_r.widen(draws), path)
        start_drug(s_rows, k_rows, np.full((m, draws), on), P)
        arms.append(_integrate(k_rows, s_rows, scen, P, landmark_day, horizon_days, z))
    (rel_c, nrm_c, at_c), (rel_s, nrm_s, at_s) = arms
    any_c, any_s = rel_c + nrm_c, rel_s + nrm_s
    return {
        "rel_c": rel_c.sum(1),
        "rel_s": rel_s.sum(1),
        "any_c": any_c.sum(1),
        "any_s": any_s.sum(1),
        "at_c": at_c.sum(1),
        "at_s": at_s.sum(1),
        "rel_c2": (rel_c**2).sum(1),
        "rel_s2": (rel_s**2).sum(1),
        "d_rel2": ((rel_c - rel_s) ** 2).sum(1),
        "d_any2": ((any_c - any_s) ** 2).sum(1),
        "d_rel": (rel_c - rel_s).sum(1),
        "d_any": (any_c - any_s).sum(1),
    }


def _summarize(t: dict[str, np.ndarray], m: np.ndarray) -> dict[str, np.ndarray]:
    """Risks from the sums over ``m`` draws, with i.i.d.-formula standard errors.

    The event-free probability at L hardly varies between draws, so it is treated as
    fixed in the standard errors.
    """
    at_c, at_s = t["at_c"] / m, t["at_s"] / m
    at = 0.5 * (at_c + at_s)

    def se(total, squares, scale):
        var = np.maximum(squares - total**2 / m, 0.0) / np.maximum(m - 1, 1)
        return np.sqrt(var / m) / scale

    rc, rs = t["rel_c"] / m / at_c, t["rel_s"] / m / at_s
    fc, fs = t["any_c"] / m / at_c, t["any_s"] / m / at_s
    return {
        "risk_control": rc,
        "risk_sorafenib": rs,
        "benefit": rc - rs,
        "rfs_risk_control": fc,
        "rfs_risk_sorafenib": fs,
        "rfs_benefit": fc - fs,
        "risk_control_se": se(t["rel_c"], t["rel_c2"], at_c),
        "risk_sorafenib_se": se(t["rel_s"], t["rel_s2"], at_s),
        "benefit_se": se(t["d_rel"], t["d_rel2"], at),
        "rfs_benefit_se": se(t["d_any"], t["d_any2"], at),
    }


def landmark_truth(
    kin: Kinetics,
    state_at_r: State,
    scen: Scenario,
    P: GeneratorParams,
    landmark_day: float,
    horizon_days: float,
    draws: int,
    rng: np.random.Generator,
    first_draws: int = 16,
    tolerance: float = 0.002,
    chunk_rows: int = 1 << 16,
) -> dict[str, np.ndarray]:
    """True risks (see module docstring) for every row of ``kin`` / ``state_at_r``.

    Every patient gets ``first_draws`` future paths; those whose standard error is then
    above ``tolerance`` (about a quarter: the rest have outcomes that the future events
    barely change) get the remaining points of the same Sobol sequence, up to ``draws``.
    Returns arrays named as `TRUTH_COLUMNS`; ``*_se`` are i.i.d.-formula standard errors,
    which overstate the error of the quasi-Monte Carlo estimate.
    """
    from scipy.stats import qmc

    n = len(kin)
    out = {name: np.full(n, np.nan) for name in TRUTH_COLUMNS}
    if n == 0:
        return out
    n_steps = int(np.ceil((landmark_day + horizon_days - kin.rand_day.min()) / STEP_DAYS)) + 1
    rotation = drift_rotation(n_steps, P)
    dims = len(FUTURE_DRAWS) + n_steps
    base = qmc.Sobol(d=dims, scramble=True, seed=rng).random(draws)
    shifts = rng.random((n, dims))
    first = min(draws, first_draws)
    totals = {}
    used = np.zeros(n)
    todo = np.arange(n)
    for block in (base[:first], base[first:]):
        if block.shape[0] == 0 or todo.size == 0:
            break
        per_chunk = max(1, chunk_rows // block.shape[0])
        for lo in range(0, todo.size, per_chunk):
            idx = todo[lo : lo + per_chunk]
            u = np.mod(block[None, :, :] + shifts[idx, None, :], 1.0)  # (patients, draws, dims)
            sums = _draw_sums(
                kin, state_at_r, idx, u, rotation, scen, P, landmark_day, horizon_days
            )
            for name, v in sums.items():
                totals.setdefault(name, np.zeros(n))[idx] += v
            used[idx] += block.shape[0]
        res = _summarize(totals, np.maximum(used, 1))
        worst = np.fmax.reduce(
            [
                res[c]
                for c in ("risk_control_se", "risk_sorafenib_se", "benefit_se", "rfs_benefit_se")
            ]
        )
        todo = np.flatnonzero(worst > tolerance)
    out.update(res)
    out["draws"] = used
    return out
