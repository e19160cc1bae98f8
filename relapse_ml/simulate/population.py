"""Transplanted candidates: baseline covariates, screening values and latent kinetics.

Proportions resemble a Chinese single-centre allo-HSCT population for acute leukemia
(mostly haploidentical donors, myeloablative conditioning, median age near 38).
Candidates include patients the trial excludes (age, FLT3 mutation, Ph+ ALL, organ
function ...) so that screening can be simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relapse_ml.simulate.params import BURDEN_FLOOR, GeneratorParams
from relapse_ml.simulate.state import PATH_DRAWS, Kinetics, State, path_draws

DIAGNOSIS_P = {"AML": 0.62, "ALL": 0.31, "MPAL": 0.07}
STATUS_P = {"CR1": 0.70, "CR2": 0.18, "CR3+": 0.03, "NR": 0.09}
CYTO_P = {"favorable": 0.14, "intermediate": 0.50, "adverse": 0.29, "unknown": 0.07}
DONOR_P = {"haplo": 0.58, "MSD": 0.28, "MUD": 0.09, "cord": 0.04, "other": 0.01}
# per donor type: GVL, aGVHD, cGVHD, NRM multipliers, reconstitution days, engraftment day
DONOR_EFFECTS = {
    "MSD": (0.85, 0.7, 1.0, 0.8, 30.0, 13.0),
    "MUD": (1.00, 1.1, 1.2, 1.1, 40.0, 14.0),
    "haplo": (1.15, 1.2, 1.1, 1.25, 45.0, 14.0),
    "cord": (1.00, 0.9, 0.6, 1.4, 70.0, 24.0),
    "other": (1.00, 1.0, 1.0, 1.1, 40.0, 14.0),
}
FLT3_AML_P = {"negative": 0.73, "itd": 0.20, "tkd": 0.05, "unknown": 0.02}
FLT3_OTHER_P = {"negative": 0.97, "itd": 0.02, "unknown": 0.01}


@dataclass
class Candidates:
    """A batch of transplanted candidates."""

    patients: dict[str, np.ndarray]  # contract columns (no id, arm) and screening columns
    kinetics: Kinetics
    state: State  # at day 0
    followup_end: np.ndarray  # administrative end or loss to follow-up, day
    e_post_relapse: np.ndarray  # unit-exponential draw for death after relapse
    declined: np.ndarray  # bool: eligible but would not consent


def population_parameters() -> dict:
    """The population's distributions, for ``meta.json``."""
    return {
        "age": "normal(38, 13) rounded, clipped to 12-72",
        "diagnosis": DIAGNOSIS_P,
        "disease_status": STATUS_P,
        "cytogenetic_risk": CYTO_P,
        "donor_type": DONOR_P,
        "donor_effects(gvl, agvhd, cgvhd, nrm, recon_days, engraft_day)": DONOR_EFFECTS,
        "flt3_aml": FLT3_AML_P,
        "flt3_all_mpal": FLT3_OTHER_P,
        "followup_end": "uniform(700, 2000) administrative, loss to follow-up 2 %/year",
    }


def _choice(rng: np.random.Generator, probs: dict, n: int) -> np.ndarray:
    keys = np.array(list(probs), dtype=object)
    p = np.array(list(probs.values()), dtype=float)
    return keys[rng.choice(len(keys), size=n, p=p / p.sum())]


def _covariates(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    age = np.clip(np.round(rng.normal(38.0, 13.0, n)), 12, 72)
    dx = _choice(rng, DIAGNOSIS_P, n)
    flt3 = np.where(dx == "AML", _choice(rng, FLT3_AML_P, n), _choice(rng, FLT3_OTHER_P, n))
    status = _choice(rng, STATUS_P, n)
    cyto = _choice(rng, CYTO_P, n)
    u = rng.random(n)
    p_pos = np.select([status == "NR", status == "CR1"], [0.9, 0.25], 0.35)
    mrd = np.where(u < p_pos, "positive", np.where(u < p_pos + 0.10, "unknown", "negative"))
    mrd = np.where((status == "NR") & (mrd == "negative"), "unknown", mrd)
    donor = _choice(rng, DONOR_P, n)
    hct_ci = np.clip(rng.poisson(0.7 + 0.04 * np.maximum(age - 30, 0)), 0, 12)
    p_ric = np.clip(0.06 + 0.45 * (age >= 55) + 0.15 * (hct_ci >= 3), 0, 0.9)
    cond = np.where(rng.random(n) < p_ric, "RIC", "MAC")
    older = age >= 55
    ecog_young = rng.choice(5, size=n, p=[0.40, 0.47, 0.10, 0.025, 0.005])
    ecog_old = rng.choice(5, size=n, p=[0.30, 0.50, 0.15, 0.04, 0.01])
    ecog = np.where(older, ecog_old, ecog_young)
    return {
        "age": age,
        "sex": np.where(rng.random(n) < 0.57, "M", "F").astype(object),
        "diagnosis": dx,
        "disease_status": status,
        "cytogenetic_risk": cyto,
        "flt3": flt3,
        "pre_hsct_mrd": mrd.astype(object),
        "donor_type": donor,
        "conditioning": cond.astype(object),
        "ecog": ecog.astype(int),
        "hct_ci": hct_ci.astype(int),
    }


def _screening(rng: np.random.Generator, cov: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Screening columns; mostly normal, with the rare values the trial excludes."""
    n = len(cov["age"])
    dx = cov["diagnosis"]

    def mix(normal, rare, p):
        return np.where(rng.random(n) < p, rare, normal)

    ast = np.round(rng.lognormal(np.log(0.8), 0.5, n), 2)
    return {
        "prior_allo_hsct": (rng.random(n) < 0.02).astype(int),
        "apl": (dx == "AML") & (rng.random(n) < 0.01),
        "ph_positive": np.where(
            dx == "ALL", rng.random(n) < 0.25, np.where(dx == "MPAL", rng.random(n) < 0.10, False)
        ),
        "cml_blast_crisis": rng.random(n) < 0.005,
        "sorafenib_intolerance": rng.random(n) < 0.01,
        "life_expectancy_days": mix(730.0, 20.0, 0.005),
        "lvef_pct": np.round(mix(rng.normal(62, 4.5, n), rng.normal(42, 4, n), 0.01), 1),
        "pao2_mmhg": np.round(mix(rng.normal(92, 8, n), rng.normal(57, 3, n), 0.01), 1),
        "bilirubin_mg_dl": np.round(
            mix(rng.lognormal(np.log(0.7), 0.4, n), rng.lognormal(np.log(4), 0.25, n), 0.01), 2
        ),
        "ast_x_uln": ast,
        "alt_x_uln": np.round(ast * rng.lognormal(0.1, 0.3, n), 2),
        "crcl_ml_min": np.round(
            np.clip(mix(rng.normal(105, 25, n), rng.normal(22, 5, n), 0.005), 5, 250), 1
        ),
        "uncontrolled_infection": rng.random(n) < 0.03,
    }


def _kinetics(
    rng: np.random.Generator, cov: dict[str, np.ndarray]
) -> tuple[Kinetics, np.ndarray, np.ndarray]:
    """Latent kinetics, the day-0 burden and the day-0 recipient fraction (log10)."""
    n = len(cov["age"])
    age, status, cyto = cov["age"], cov["disease_status"], cov["cytogenetic_risk"]
    donor, ric = cov["donor_type"], cov["conditioning"] == "RIC"
    eff = np.array([DONOR_EFFECTS[d] for d in donor]).reshape(n, 6)

    # residual leukemia right after conditioning: pre-transplant MRD and status dominate
    mrd = cov["pre_hsct_mrd"]
    truly_pos = (
        (mrd == "positive")
        | ((mrd == "unknown") & (rng.random(n) < 0.35))
        | ((mrd == "negative") & (rng.random(n) < 0.10))
    )
    x0 = np.where(truly_pos, rng.normal(-3.8, 0.7, n), rng.normal(-5.5, 0.8, n))
    x0 = np.where(status == "NR", rng.normal(-2.2, 0.6, n), x0)
    x0 = x0 + 0.6 * ric + 0.25 * (status == "CR2") + 0.4 * (status == "CR3+")

    log_g = (
        np.log(0.020)  # lowered from 0.024 when the growth drift was added (calibration)
        + 0.35 * (cyto == "adverse")
        - 0.35 * (cyto == "favorable")
        + 0.15 * (cyto == "unknown")
        + 0.15 * (status == "CR2")
        + 0.3 * (status == "CR3+")
        + 0.35 * (status == "NR")
        + rng.normal(0, 0.3, n)
    )
    allo = rng.normal(0, 1, n)  # donor alloreactivity: drives GVL and GVHD together
    gvl = 0.040 * eff[:, 0] * np.exp(0.3 * allo + rng.normal(0, 0.25, n))
    is_start = np.where(donor == "MSD", 90 + rng.uniform(0, 60, n), 120 + rng.uniform(0, 90, n))
    agvhd = 0.7 * eff[:, 1] * np.exp(0.5 * allo + 0.01 * (age - 38)) * np.where(ric, 0.75, 1.0)
    severity = 0.3 * allo + 0.25 * np.isin(donor, ["haplo", "MUD"]) - 0.2 * (donor == "cord")
    cgvhd = 0.6 * eff[:, 2] * np.exp(0.4 * allo + 0.01 * (age - 38))
    nrm_lp = 0.03 * (age - 40) + 0.12 * cov["hct_ci"] + np.log(eff[:, 3]) + 0.4 * (cov["ecog"] >= 2)
    escape = 0.00004 * np.where(donor == "haplo", 2.5, 1.0)  # HLA-loss relapse after haplo
    tox = np.exp(0.015 * (age - 40) + 0.1 * cov["hct_ci"])
    p_fail = np.where(donor == "cord", 0.07, 0.015)
    engraft = np.maximum(8, np.round(rng.normal(eff[:, 5], 3, n)))
    engraft = np.where(rng.random(n) < p_fail, np.inf, engraft)
    lrho0 = np.where(ric, rng.normal(np.log10(0.12), 0.35, n), rng.normal(np.log10(0.015), 0.45, n))
    kin = Kinetics(
        rand_day=rng.integers(45, 61, n).astype(float),
        growth=np.exp(log_g),
        gvl=gvl,
        tau_recon=eff[:, 4],
        is_start=is_start,
        agvhd_risk=agvhd,
        severity=severity,
        cgvhd_risk=cgvhd,
        nrm_lp=nrm_lp,
        escape_rate=escape,
        tox_mult=tox,
        harm=(age >= 55) | (cov["hct_ci"] >= 3),
        engraft_day=engraft,
        sensitivity=np.ones(n),  # set at randomization (see disease.drug_sensitivity)
    )
    return kin, x0, lrho0


def initial_state(
    kin: Kinetics,
    x0: np.ndarray,
    lrho0: np.ndarray,
    draws: dict[str, np.ndarray],
    P: GeneratorParams,
    threshold: np.ndarray | None = None,
    e_nrm: np.ndarray | None = None,
) -> State:
    """State at day 0 with the given path draws (``threshold``/``e_nrm`` only when sampling)."""
    n = len(x0)
    nan = np.full(n, np.nan)
    zeros = np.zeros(n)
    x = np.clip(x0, BURDEN_FLOOR, None)
    return State(
        x=x,
        top=x.copy(),
        drift=zeros.copy(),
        erad=x <= BURDEN_FLOOR,
        lrho=np.clip(lrho0, P.rho_floor, P.rho_cap),
        ag_grade=np.zeros(n, np.int8),
        ag_onset=nan.copy(),
        ag_until=np.full(n, -np.inf),
        ag_nrm=zeros.copy(),
        cg_grade=np.zeros(n, np.int8),
        cg_onset=nan.copy(),
        cg_mult=np.ones(n),
        cg_boost=zeros.copy(),
        nrm_gvhd=np.ones(n),
        is_start=kin.is_start.copy(),
        is_floor=zeros.copy(),
        on_drug=np.zeros(n, bool),
        drug_end=np.full(n, -np.inf),
        h_nrm=zeros.copy(),
        h_ag=zeros.copy(),
        h_cg=zeros.copy(),
        h_esc=zeros.copy(),
        h_red=zeros.copy(),
        h_tox=zeros.copy(),
        h_oth=zeros.copy(),
        **{name: draws[name] for name in PATH_DRAWS},
        threshold=nan.copy() if threshold is None else threshold,
        e_nrm=nan.copy() if e_nrm is None else e_nrm,
        t_relapse=nan.copy(),
        t_nrm=nan.copy(),
        t_red1=nan.copy(),
        t_red2=nan.copy(),
        t_stop=nan.copy(),
        stop_reason=np.zeros(n, np.int8),
    )


def draw_path(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Independent draws for the discrete path events (see `disease.path_draws`)."""
    return path_draws({name: rng.random(n) for name in PATH_DRAWS})


def draw_candidates(rng: np.random.Generator, n: int, P: GeneratorParams) -> Candidates:
    """``n`` transplanted candidates with everything their course needs."""
    cov = _covariates(rng, n)
    cov.update(_screening(rng, cov))
    kin, x0, lrho0 = _kinetics(rng, cov)
    threshold = rng.logistic(P.threshold_mean, P.threshold_scale, n)
    state = initial_state(kin, x0, lrho0, draw_path(rng, n), P, threshold, rng.exponential(1.0, n))
    # refractory at transplant: the burden is already above the threshold
    state.t_relapse = np.where(state.x >= threshold, 0.5, np.nan)
    followup = np.minimum(rng.integers(700, 2001, n), rng.exponential(365.25 / 0.02, n))
    return Candidates(
        patients=cov,
        kinetics=kin,
        state=state,
        followup_end=np.floor(followup),
        e_post_relapse=rng.exponential(1.0, n),
        declined=rng.random(n) < 0.04,
    )
