"""The simulator's per-patient containers: the constants of a course (`Kinetics`), the changing
state with its random draws and what was recorded (`State`), the path draws, and one step's
segment for integrating outcomes. The dynamics that move them are in `disease`."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

# reasons a sorafenib course stopped (codes in `State.stop_reason`)
STOP_NONE, STOP_COMPLETED, STOP_TOXICITY, STOP_OTHER = 0, 1, 2, 3
STOP_DETAIL = {STOP_COMPLETED: "completed", STOP_TOXICITY: "toxicity", STOP_OTHER: "other"}


class _Arrays:
    """Dataclass of equal-length arrays that can be sliced, repeated or widened row-wise."""

    def take(self, idx):
        return replace(self, **{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def repeat(self, m: int):
        return replace(self, **{f.name: np.repeat(getattr(self, f.name), m) for f in fields(self)})

    def widen(self, m: int):
        """Each field as a (rows, m) array of copies (one column per Monte Carlo draw)."""
        return replace(
            self,
            **{f.name: np.repeat(getattr(self, f.name)[:, None], m, axis=1) for f in fields(self)},
        )

    def column(self):
        """Each field as a (rows, 1) array, to broadcast against widened state."""
        return replace(self, **{f.name: getattr(self, f.name)[:, None] for f in fields(self)})

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))


def concat_rows(parts):
    """Concatenate dataclasses of arrays (`Kinetics`, `State`) row-wise."""
    first = parts[0]
    return type(first)(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(first)}
    )


@dataclass
class Kinetics(_Arrays):
    """Per-patient constants of the course."""

    rand_day: np.ndarray  # R: screening / randomization day, 45-60
    growth: np.ndarray  # intrinsic leukemia growth, log10 per day
    gvl: np.ndarray  # GVL kill at full reconstitution without immunosuppression, log10 per day
    tau_recon: np.ndarray  # immune reconstitution time constant, days
    is_start: np.ndarray  # planned start of the immunosuppression taper, day
    agvhd_risk: np.ndarray  # total cumulative aGVHD hazard
    severity: np.ndarray  # shift of the GVHD grade on the logistic scale
    cgvhd_risk: np.ndarray
    nrm_lp: np.ndarray  # log NRM hazard multiplier from baseline covariates
    escape_rate: np.ndarray  # immune escape hazard per day at the reference burden
    tox_mult: np.ndarray  # sorafenib toxicity hazard multiplier
    harm: np.ndarray  # bool: age >= 55 or HCT-CI >= 3
    engraft_day: np.ndarray  # inf after graft failure
    sensitivity: np.ndarray  # share of the scenario's drug effect this patient's clone gets


@dataclass
class State(_Arrays):
    """The changing state at a node, the unit-exponential draws, and what was recorded.

    A discrete process has fired once its cumulative hazard ``h_*`` reached its draw
    ``e_*`` (hazards only accumulate while the process can fire), so "escaped", "dose
    reduced" and "stopped for toxicity" need no flags of their own.
    """

    x: np.ndarray  # log10 % leukemic burden
    top: np.ndarray  # running maximum of x since transplant
    drift: np.ndarray  # current deviation of the net growth from its mechanistic value, log10/day
    erad: np.ndarray  # bool: fell below the floor, cannot regrow
    lrho: np.ndarray  # log10 fraction of recipient (normal) hematopoiesis
    ag_grade: np.ndarray  # 0 none, else grade at onset
    ag_onset: np.ndarray
    ag_until: np.ndarray  # aGVHD II+ active (GVL boost) until this day; -inf if none
    ag_nrm: np.ndarray  # extra NRM hazard while aGVHD grade II is active
    cg_grade: np.ndarray
    cg_onset: np.ndarray
    cg_mult: np.ndarray  # cGVHD hazard multiplier (raised after aGVHD II+)
    cg_boost: np.ndarray  # GVL boost of the current cGVHD (full chimerism only)
    nrm_gvhd: np.ndarray  # lasting NRM multiplier from aGVHD III-IV and cGVHD
    is_start: np.ndarray  # taper start, delayed by aGVHD II+
    is_floor: np.ndarray  # immunosuppression kept at least this high (cGVHD treatment)
    on_drug: np.ndarray  # bool
    drug_end: np.ndarray  # planned end of the course
    h_nrm: np.ndarray  # cumulative hazards of the discrete processes
    h_ag: np.ndarray
    h_cg: np.ndarray
    h_esc: np.ndarray
    h_red: np.ndarray
    h_tox: np.ndarray
    h_oth: np.ndarray
    e_ag: np.ndarray  # unit-exponential thresholds and uniforms for grades
    u_ag: np.ndarray
    e_cg: np.ndarray
    u_cg: np.ndarray
    e_esc: np.ndarray  # the clone's escape potential: latent, known at randomization
    e_red1: np.ndarray
    e_red2: np.ndarray  # cumulative threshold of the second reduction (> e_red1)
    e_tox: np.ndarray
    e_oth: np.ndarray
    # sampled course only (NaN in the truth): threshold, NRM draw and what happened
    threshold: np.ndarray
    e_nrm: np.ndarray
    t_relapse: np.ndarray
    t_nrm: np.ndarray
    t_red1: np.ndarray
    t_red2: np.ndarray
    t_stop: np.ndarray
    stop_reason: np.ndarray


PATH_DRAWS = ("e_ag", "u_ag", "e_cg", "u_cg", "e_esc", "e_red1", "e_red2", "e_tox", "e_oth")
UNIFORM_DRAWS = ("u_ag", "u_cg")
# the draws the truth integrates over; the escape potential is part of the latent state
FUTURE_DRAWS = tuple(d for d in PATH_DRAWS if d != "e_esc")


def path_draws(u: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Path draws from uniforms: exponentials by inversion; the second reduction cumulative."""
    out = {
        name: (v if name in UNIFORM_DRAWS else -np.log1p(-np.minimum(v, 1 - 1e-16)))
        for name, v in u.items()
    }
    if "e_red2" in out:
        out["e_red2"] = out["e_red1"] + out["e_red2"]  # second event of the same Poisson process
    return out


@dataclass
class Segment:
    """One step of the burden and of the NRM hazard, for integrating outcomes inside it."""

    t0: np.ndarray
    t1: np.ndarray
    x0: np.ndarray
    slope: np.ndarray
    top0: np.ndarray
    h0: np.ndarray
    nrm_rate: np.ndarray
