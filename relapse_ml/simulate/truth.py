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

from relapse_ml.simulate.disease import node_day, start_drug, step
from relapse_ml.simulate.params import PRE_STEPS, STEP_DAYS, GeneratorParams
from relapse_ml.simulate.scenarios import Scenario
from relapse_ml.simulate.state import FUTURE_DRAWS, Kinetics, State, path_draws

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
TRUTH_AT_COLUMNS = ("risk", "rfs_risk", "risk_se", "rfs_risk_se", "draws")


def _fresh_path(st: State, draws: dict[str, np.ndarray]) -> State:
    """The state at the start node with new draws for the future.

    The processes are memoryless, so their cumulative hazards restart at zero with fresh
    unit-exponential thresholds. Immune escape keeps its draw: the clone's escape
    potential is part of the latent state. Dose reductions already made are kept: a
    reduction that fired keeps its threshold at zero (so it stays fired), and the second
    reduction after a first one needs a fresh exponential of its own. At randomization
    (no drug yet) this is a plain restart.
    """
    done1 = st.h_red >= st.e_red1
    done2 = st.h_red >= st.e_red2
    for name in FUTURE_DRAWS:
        setattr(st, name, draws[name])
    st.e_red2 = np.where(done2, 0.0, np.where(done1, draws["e_red2"] - draws["e_red1"], draws["e_red2"]))
    st.e_red1 = np.where(done1, 0.0, draws["e_red1"])
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
    k0,
    scen: Scenario,
    P: GeneratorParams,
    landmark: float,
    horizon: float,
    z: np.ndarray,
):
    """Per row: P(relapse in window), P(NRM in window), P(event-free at L), each given the path.

    The path starts from ``st``, the state at node ``k0`` (an int, or one node per row as
    a (rows, 1) array; the node lies at or before L) and step j uses the drift noise
    ``z[j]``. Inside a step the burden is linear and the NRM hazard constant, so the
    chance of having reached the threshold at any time is exact; the relapse density is
    weighted by the NRM survival at the midpoint (geometric mean of the ends), and NRM by
    the mean relapse-free probability at the ends. Values at the window's start of a step
    are those at the end of the previous one, except in the step that holds L.
    """
    start, stop = float(landmark), float(landmark + horizon)
    inv_sf_r = 1.0 / np.maximum(_survival_threshold(st.top, P), 1e-300)
    rel = np.zeros(st.x.shape)
    nrm = np.zeros(st.x.shape)
    at_l = np.zeros(st.x.shape)
    sb = nb = None
    for j in range(z.shape[0]):
        k = k0 + j
        seg = step(kin, st, k, scen, P, sample=False, z=z[j])
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


def _draw_sums(
    kin, st, k0, idx, u, rotation, scen, P, landmark_day, horizon_days, arms
) -> dict[str, np.ndarray]:
    """Sums over the draws ``u`` (patients, draws, dims) of the per-path quantities.

    The first dims are the discrete events' uniforms, the rest the drift noise's
    principal coordinates (see `drift_rotation`). ``arms``: for each arm, True / False
    (start sorafenib / no drug at the start node, which is then the randomization node)
    or None (keep the drug course the state carries). Every arm sees the same paths
    (common random numbers). Keys end in the arm's position; with two arms ``d_*`` are
    the sums of the differences (first minus second).
    """
    m, draws = u.shape[0], u.shape[1]
    path = path_draws({name: u[:, :, j] for j, name in enumerate(FUTURE_DRAWS)})
    w = ndtri(np.clip(u[:, :, len(FUTURE_DRAWS) :], 1e-12, 1.0 - 1e-12))
    z = np.tensordot(rotation, w, axes=([1], [2]))  # (steps, patients, draws): z[j] contiguous
    k_rows = kin.take(idx).column()
    at_start = st.take(idx)
    start_node = k0 if np.ndim(k0) == 0 else np.asarray(k0)[idx][:, None]
    out, paths = {}, []
    for i, on in enumerate(arms):
        s_rows = _fresh_path(at_start.widen(draws), path)
        if on is not None:
            start_drug(s_rows, k_rows, np.full((m, draws), on), P)
        rel, nrm, at = _integrate(k_rows, s_rows, start_node, scen, P, landmark_day, horizon_days, z)
        paths.append((rel, rel + nrm))
        out.update({f"rel{i}": rel.sum(1), f"any{i}": (rel + nrm).sum(1), f"at{i}": at.sum(1),
                    f"rel2_{i}": (rel**2).sum(1), f"any2_{i}": ((rel + nrm) ** 2).sum(1)})
    if len(arms) == 2:
        d_rel, d_any = paths[0][0] - paths[1][0], paths[0][1] - paths[1][1]
        out.update({"d_rel": d_rel.sum(1), "d_any": d_any.sum(1),
                    "d_rel2": (d_rel**2).sum(1), "d_any2": (d_any**2).sum(1)})
    return out


def _summarize(t: dict[str, np.ndarray], m: np.ndarray, n_arms: int) -> dict[str, np.ndarray]:
    """Risks from the sums over ``m`` draws, with i.i.d.-formula standard errors.

    Keys ``risk<i>``, ``rfs<i>`` and their ``*_se`` per arm; with two arms also
    ``benefit``, ``rfs_benefit`` (first minus second) and their ``*_se``. The event-free
    probability at L hardly varies between draws, so it is treated as fixed in the
    standard errors.
    """

    def se(total, squares, scale):
        var = np.maximum(squares - total**2 / m, 0.0) / np.maximum(m - 1, 1)
        return np.sqrt(var / m) / scale

    out, ats = {}, []
    for i in range(n_arms):
        at = t[f"at{i}"] / m
        ats.append(at)
        out[f"risk{i}"] = t[f"rel{i}"] / m / at
        out[f"rfs{i}"] = t[f"any{i}"] / m / at
        out[f"risk{i}_se"] = se(t[f"rel{i}"], t[f"rel2_{i}"], at)
        out[f"rfs{i}_se"] = se(t[f"any{i}"], t[f"any2_{i}"], at)
    if n_arms == 2:
        at = 0.5 * (ats[0] + ats[1])
        out["benefit"] = out["risk0"] - out["risk1"]
        out["rfs_benefit"] = out["rfs0"] - out["rfs1"]
        out["benefit_se"] = se(t["d_rel"], t["d_rel2"], at)
        out["rfs_benefit_se"] = se(t["d_any"], t["d_any2"], at)
    return out


def _qmc_truth(
    kin, st, k0, arms, scen, P, landmark_day, horizon_days, draws, rng, first_draws, tolerance,
    chunk_rows, watch,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The quasi-Monte Carlo engine of both truths: `_summarize` keys and draws used per row.

    Every row gets ``first_draws`` future paths; those whose largest standard error among
    ``watch`` is then above ``tolerance`` get the remaining points of the same Sobol
    sequence, up to ``draws``.
    """
    from scipy.stats import qmc

    n = len(kin)
    start_day = node_day(kin.rand_day, k0 if np.ndim(k0) == 0 else np.asarray(k0))
    n_steps = int(np.ceil((landmark_day + horizon_days - start_day.min()) / STEP_DAYS)) + 1
    rotation = drift_rotation(n_steps, P)
    dims = len(FUTURE_DRAWS) + n_steps
    base = qmc.Sobol(d=dims, scramble=True, seed=rng).random(draws)
    shifts = rng.random((n, dims))
    first = min(draws, first_draws)
    totals = {}
    used = np.zeros(n)
    todo = np.arange(n)
    res = {}
    for block in (base[:first], base[first:]):
        if block.shape[0] == 0 or todo.size == 0:
            break
        per_chunk = max(1, chunk_rows // block.shape[0])
        for lo in range(0, todo.size, per_chunk):
            idx = todo[lo : lo + per_chunk]
            u = np.mod(block[None, :, :] + shifts[idx, None, :], 1.0)  # (patients, draws, dims)
            sums = _draw_sums(
                kin, st, k0, idx, u, rotation, scen, P, landmark_day, horizon_days, arms
            )
            for name, v in sums.items():
                totals.setdefault(name, np.zeros(n))[idx] += v
            used[idx] += block.shape[0]
        res = _summarize(totals, np.maximum(used, 1), len(arms))
        worst = np.fmax.reduce([res[c] for c in watch])
        todo = np.flatnonzero(worst > tolerance)
    return res, used


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
    """True risks under both arms (see module docstring) for every row of ``kin`` / ``state_at_r``.

    Every patient gets ``first_draws`` future paths; those whose standard error is then
    above ``tolerance`` (about a quarter: the rest have outcomes that the future events
    barely change) get the remaining points of the same Sobol sequence, up to ``draws``.
    Returns arrays named as `TRUTH_COLUMNS`; ``*_se`` are i.i.d.-formula standard errors,
    which overstate the error of the quasi-Monte Carlo estimate.
    """
    n = len(kin)
    out = {name: np.full(n, np.nan) for name in TRUTH_COLUMNS}
    if n == 0:
        return out
    res, used = _qmc_truth(
        kin, state_at_r, PRE_STEPS, (False, True), scen, P, landmark_day, horizon_days, draws,
        rng, first_draws, tolerance, chunk_rows,
        watch=("risk0_se", "risk1_se", "benefit_se", "rfs_benefit_se"),
    )
    out.update({
        "risk_control": res["risk0"], "risk_sorafenib": res["risk1"], "benefit": res["benefit"],
        "rfs_risk_control": res["rfs0"], "rfs_risk_sorafenib": res["rfs1"],
        "rfs_benefit": res["rfs_benefit"], "risk_control_se": res["risk0_se"],
        "risk_sorafenib_se": res["risk1_se"], "benefit_se": res["benefit_se"],
        "rfs_benefit_se": res["rfs_benefit_se"], "draws": used,
    })
    return out


def truth_at_landmark(
    kin: Kinetics,
    state: State,
    start_node: np.ndarray,
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
    """True risks at a later landmark L, given the latent state then, under the arm received.

    ``state`` holds each row's state at its grid node ``start_node`` (the last node at
    or before L, at most `STEP_DAYS` earlier; the burden's path up to the next node is
    fixed by it, so the burden at L is known), in the arm the patient actually received,
    with the drug course so far (on or off drug, reductions made, planned end). Returns
    ``risk`` = P(relapse in (L, L + tau] | that state, alive and relapse-free at L),
    ``rfs_risk`` (relapse or death), their i.i.d.-formula ``*_se`` and ``draws``
    (`TRUTH_AT_COLUMNS`). Same engine as `landmark_truth`; at L = R the two agree.
    """
    n = len(kin)
    out = {name: np.full(n, np.nan) for name in TRUTH_AT_COLUMNS}
    if n == 0:
        return out
    res, used = _qmc_truth(
        kin, state, np.asarray(start_node, dtype=int), (None,), scen, P, landmark_day,
        horizon_days, draws, rng, first_draws, tolerance, chunk_rows,
        watch=("risk0_se", "rfs0_se"),
    )
    out.update({"risk": res["risk0"], "rfs_risk": res["rfs0"], "risk_se": res["risk0_se"],
                "rfs_risk_se": res["rfs0_se"], "draws": used})
    return out
