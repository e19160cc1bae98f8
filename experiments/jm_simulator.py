"""A shared-random-effects joint-model simulator (issue 10: a second, independent family).

The classic joint model of the literature (Rizopoulos 2012; Paige et al. 2018), written
for this study and independent of `relapse_ml.simulate`'s disease model: each patient has
a latent log10-MRD course

    m_i(t) = a_i + b_i * t / 365          (t in days since transplant, b_i per year)

with (a_i, b_i) bivariate normal, their means shifted by the baseline risk factors.
What the clinic sees is noisy and incomplete (`observe`):

- ``mrd_mfc`` (%): 10^(m_i(t) + e); below the detection limit (0.01 %) it is reported as 0
  (left-censored: "not detected", the contract's convention, not a number);
- ``wt1``: log10(WT1 + 1) = w0 + w1 (m_i(t) + 3) + u_i + e;
- ``donor_chimerism`` (%): log10(101 − donor %) = r0 + r1 (m_i(t) + 3) + v_i + e,

at the trial's visit schedule (`relapse_ml.simulate.observe.VISIT_DAYS`: days 30, 60, 90,
120, 180, 270, 365, then every 6 months; jittered, some missed) while the patient is alive,
relapse-free and followed. Hazards are piecewise constant on a grid of ``dt`` days (the
latent course read at each cell's midpoint):

    relapse:  h1(t) = lam1 exp(alpha m_i(t) + gamma b_i + x_i'beta1 + beta_gvl [aGVHD >= 2]
                                + beta_arm [sorafenib, t >= randomization day])
    NRM:      h2(t) = lam2 exp(-t / nrm_decay) exp(age, aGVHD grade, donor type, HCT-CI)

non-relapse death being a competing cause. Acute GVHD starts before day 56 (known at every
landmark >= 60). Patients randomized (1:1, permuted) on day 45–60 if alive and relapse-free
then; the others are screen failures and not written. Administrative censoring (staggered
accrual) and a small loss to follow-up.

The truth (`truth_at_landmarks`): each patient's true probability of relapse in
(L, L + horizon] given the random effects, the covariates, the arm received and being alive
and relapse-free at L — computed exactly from the piecewise-constant hazards, not sampled.
``truth`` (the contract's ``truth.csv``): the same at ``landmark_day`` under each arm.

The output is a `relapse_ml.simulate.result.SimulatedTrial` (the same tables, column names
and codes as `relapse-ml simulate` writes), so ``.write(DIR)`` gives a contract-v2 cohort
directory and ``.to_cohort()`` feeds `run_training` unchanged. Modelling code never reads
the truth or the latent columns (``latent`` is kept apart, for tests and diagnostics).

    python experiments/jm_simulator.py --n 346 --seed 1 --out jm_trial
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from relapse_ml.simulate.result import SimulatedTrial

DETECTION_LIMIT = 0.01  # MFC-MRD, % (the contract's usual threshold)
LOG_DL = np.log10(DETECTION_LIMIT)
MARKER_MISSED = 0.05


@dataclass(frozen=True)
class JMParams:
    """The generating model's parameters (defaults: the pre-registered calibration)."""

    # latent log10-MRD course: level at day 0 and slope per year
    mu_a: float = -2.8
    sd_a: float = 0.3
    mu_b: float = 0.0
    sd_b: float = 1.5
    rho_ab: float = 0.0
    # relapse hazard
    lam1: float = 8.5e-4  # per day at m = 0, b = 0, reference covariates
    alpha: float = 0.45  # per log10 of the current latent MRD
    gamma: float = 0.2  # per log10/year of the latent slope
    beta_arm: float = -0.35  # sorafenib, from the randomization day on
    beta_gvl: float = -0.35  # aGVHD grade >= 2 (graft-versus-leukemia)
    beta_scale: float = 1.6  # multiplies the baseline covariates' relapse log-HRs (tables below)
    # non-relapse death hazard
    lam2: float = 2.5e-4
    nrm_decay: float = 500.0
    # measurement model
    sigma_mrd: float = 0.15
    w0: float = 1.1
    w1: float = 0.5
    sd_u: float = 0.25
    sigma_wt1: float = 0.15
    r0: float = 0.2
    r1: float = 0.3
    sd_v: float = 0.15
    sigma_chim: float = 0.1
    # follow-up
    accrual_min: float = 800.0
    accrual_max: float = 1800.0
    loss_rate: float = 0.05 / 365
    post_relapse_death_mean: float = 300.0
    dt: float = 3.0  # hazard grid (days); must divide every truth landmark


# baseline covariates: level -> (probability, shift of mu_a, shift of mu_b, relapse log-HR)
DISEASE_STATUS = {"CR1": (0.70, 0.0, 0.0, 0.0), "CR2": (0.22, 0.3, 0.2, 0.2),
                  "NR": (0.08, 0.6, 0.4, 0.4)}
CYTOGENETICS = {"favorable": (0.20, -0.3, -0.2, -0.2), "intermediate": (0.55, 0.0, 0.0, 0.0),
                "adverse": (0.25, 0.3, 0.3, 0.3)}
PRE_MRD = {"negative": (0.70, 0.0, 0.0, 0.0), "positive": (0.30, 0.4, 0.1, 0.1)}
DONOR = {"MSD": 0.30, "MUD": 0.20, "haplo": 0.50}
AGVHD_GRADE = np.array([0.45, 0.35, 0.15, 0.05])  # grades 1-4 among those with aGVHD
AGVHD_ANY = 0.35


def _draw(rng, table: dict, n: int):
    levels = list(table)
    p = np.array([v[0] if isinstance(v, tuple) else v for v in table.values()])
    return np.array(levels, dtype=object)[rng.choice(len(levels), n, p=p / p.sum())]


def _shift(values, table: dict, k: int) -> np.ndarray:
    return np.array([table[v][k] for v in values], float)


def _baseline(rng, n: int) -> pd.DataFrame:
    p = pd.DataFrame({
        "age": rng.integers(18, 66, n),
        "sex": np.where(rng.random(n) < 0.58, "M", "F"),
        "diagnosis": np.array(["AML", "ALL", "MPAL"], dtype=object)[rng.choice(3, n, p=[0.7, 0.25, 0.05])],
        "disease_status": _draw(rng, DISEASE_STATUS, n),
        "cytogenetic_risk": _draw(rng, CYTOGENETICS, n),
        "flt3": "negative",
        "pre_hsct_mrd": _draw(rng, PRE_MRD, n),
        "donor_type": _draw(rng, DONOR, n),
        "conditioning": np.where(rng.random(n) < 0.85, "MAC", "RIC"),
        "ecog": rng.choice(3, n, p=[0.5, 0.4, 0.1]),
        "hct_ci": rng.choice(5, n, p=[0.45, 0.25, 0.15, 0.1, 0.05]),
    })
    return p


def _random_effects(rng, P: JMParams, base: pd.DataFrame) -> dict[str, np.ndarray]:
    n = len(base)
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    tables = ((DISEASE_STATUS, "disease_status"), (CYTOGENETICS, "cytogenetic_risk"),
              (PRE_MRD, "pre_hsct_mrd"))
    da = sum(_shift(base[c], t, 1) for t, c in tables)
    db = sum(_shift(base[c], t, 2) for t, c in tables)
    x_beta = P.beta_scale * sum(_shift(base[c], t, 3) for t, c in tables)
    a = P.mu_a + da + P.sd_a * z1
    b = P.mu_b + db + P.sd_b * (P.rho_ab * z1 + np.sqrt(1 - P.rho_ab ** 2) * z2)
    return {"a": a, "b": b, "x_beta": x_beta,
            "u": P.sd_u * rng.standard_normal(n), "v": P.sd_v * rng.standard_normal(n)}


def latent_mrd(a, b, t) -> np.ndarray:
    """m_i(t) = a_i + b_i t / 365 (log10 %); ``t`` broadcast against the patients."""
    return np.asarray(a)[:, None] + np.asarray(b)[:, None] * (np.asarray(t, float) / 365.0)


def hazards(P: JMParams, re: dict, base: pd.DataFrame, ag_grade: np.ndarray,
            ag_day: np.ndarray, sorafenib: np.ndarray, rand_day: np.ndarray, n_cells: int):
    """Relapse and NRM hazards per grid cell, shape (n, n_cells): constant on
    [k dt, (k + 1) dt), read at the cell's midpoint."""
    mid = (np.arange(n_cells) + 0.5) * P.dt
    m = latent_mrd(re["a"], re["b"], mid)
    gvl = ((ag_grade >= 2)[:, None] & (mid[None, :] >= ag_day[:, None]))
    arm = (sorafenib[:, None] & (mid[None, :] >= rand_day[:, None]))
    lin1 = (P.alpha * m + (P.gamma * re["b"] + re["x_beta"])[:, None]
            + P.beta_gvl * gvl + P.beta_arm * arm)
    h1 = P.lam1 * np.exp(np.minimum(lin1, 30.0))
    age = base["age"].to_numpy(float)
    lin2 = (0.03 * (age - 45) + 0.3 * (base["donor_type"].to_numpy() == "haplo")
            + 0.15 * base["hct_ci"].to_numpy(float))[:, None]
    ag_on = mid[None, :] >= ag_day[:, None]  # the grade acts from the onset on
    lin2 = lin2 + ag_on * (0.4 * (ag_grade == 2) + 1.2 * (ag_grade >= 3))[:, None]
    h2 = P.lam2 * np.exp(-mid / P.nrm_decay)[None, :] * np.exp(lin2)
    return h1, h2


def _first_passage(h: np.ndarray, dt: float, e: np.ndarray) -> np.ndarray:
    """The time at which the cumulative hazard of piecewise-constant ``h`` reaches ``e``
    (inf when it never does on the grid)."""
    H = np.concatenate([np.zeros((len(h), 1)), np.cumsum(h * dt, axis=1)], axis=1)
    k = (H < e[:, None]).sum(axis=1) - 1  # the cell in which the passage happens
    inside = k < h.shape[1]
    kk = np.minimum(k, h.shape[1] - 1)
    rows = np.arange(len(h))
    t = kk * dt + (e - H[rows, kk]) / h[rows, kk]
    return np.where(inside, t, np.inf)


def relapse_cif(h1: np.ndarray, h2: np.ndarray, dt: float, start: float, end: float) -> np.ndarray:
    """P(relapse in (start, end] | event-free at start) for piecewise-constant cause-specific
    hazards on the grid of width ``dt`` (cells may be cut at ``start`` and ``end``)."""
    edges = np.arange(h1.shape[1] + 1) * dt
    lo = np.clip(edges[:-1], start, end)
    hi = np.clip(edges[1:], start, end)
    width = (hi - lo)[None, :]
    hs = h1 + h2
    step = hs * width
    surv_before = np.exp(-(np.cumsum(step, axis=1) - step))
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(hs > 0, h1 / hs, 0.0)
    return np.sum(surv_before * frac * (1.0 - np.exp(-step)), axis=1)


@dataclass
class JMTrial(SimulatedTrial):
    """`SimulatedTrial` (its tables, ``write`` and ``to_cohort``) plus ``latent``: each
    patient's random effects and event times (tests and diagnostics only; never written)."""

    latent: pd.DataFrame = field(default_factory=pd.DataFrame)

    def true_benefit(self, patient_id) -> np.ndarray:
        """Each listed patient's true relapse benefit at the landmark (``truth``'s ``benefit``:
        control − sorafenib risk), in the order of ``patient_id``; NaN where absent.
        Evaluation only."""
        t = self.truth.set_index(self.truth["patient_id"].astype(str))["benefit"]
        return t.reindex(np.asarray(patient_id).astype(str)).to_numpy(float)

    @property
    def source(self) -> str:
        m = self.meta
        return f"experiments/jm_simulator.py (joint model, seed={m.get('seed')}, n={m.get('n')})"


def simulate_jm(n: int, seed: int, params: JMParams | None = None, landmark_day: float = 60,
                horizon_days: float = 730, truth_landmarks=(60, 180), visit_days=None):
    """``n`` randomized patients as a `JMTrial`. ``visit_days`` (sensitivity analysis only,
    not the pre-registered design): marker visits on these days instead of the trial's early
    schedule (`relapse_ml.simulate.observe.visit_schedule`); the events, the latent courses and
    the truth are the same as without it (the measurements are drawn last)."""
    P = params or JMParams()
    for L in (landmark_day, *truth_landmarks):
        if abs(L / P.dt - round(L / P.dt)) > 1e-9:
            raise ValueError(f"dt {P.dt} must divide landmark {L}")
    rng = np.random.default_rng([int(seed), 2026])
    m = int(np.ceil(n * 1.25)) + 50  # candidates; the first n randomized are kept
    base = _baseline(rng, m)
    re = _random_effects(rng, P, base)
    has_ag = rng.random(m) < AGVHD_ANY
    ag_grade = np.where(has_ag, rng.choice(4, m, p=AGVHD_GRADE) + 1, 0)
    ag_day = np.where(has_ag, rng.integers(14, 56, m), np.inf).astype(float)
    engraft = rng.integers(10, 26, m).astype(float)
    rand_day = rng.integers(45, 61, m).astype(float)
    end = rng.uniform(P.accrual_min, P.accrual_max, m)
    loss = rng.exponential(1.0 / P.loss_rate, m)
    obs_end = np.minimum(end, loss)
    n_cells = int(np.ceil(P.accrual_max / P.dt)) + 1
    # the arm is drawn for every candidate (permuted blocks of 4), so that screening
    # does not change anyone's assignment stream
    blocks = np.concatenate([rng.permutation([True, True, False, False]) for _ in range(m // 4 + 1)])
    sorafenib = blocks[:m]
    h1, h2 = hazards(P, re, base, ag_grade, ag_day, sorafenib, rand_day, n_cells)
    t_rel = _first_passage(h1, P.dt, rng.exponential(1.0, m))
    t_nrm = _first_passage(h2, P.dt, rng.exponential(1.0, m))
    t_prd = t_rel + rng.exponential(P.post_relapse_death_mean, m)
    randomized = (np.minimum(t_rel, t_nrm) > rand_day) & (obs_end > rand_day)
    keep = np.flatnonzero(randomized)[:n]
    if len(keep) < n:
        raise RuntimeError("too few randomized candidates; raise the candidate factor")
    ids = np.array([f"JM{i + 1:05d}" for i in range(n)], dtype=object)
    sel = lambda x: x[keep]  # noqa: E731
    base = base.iloc[keep].reset_index(drop=True)
    re = {k: sel(v) for k, v in re.items()}
    ag_grade, ag_day, engraft, rand_day = map(sel, (ag_grade, ag_day, engraft, rand_day))
    obs_end, sorafenib, t_rel, t_nrm, t_prd = map(sel, (obs_end, sorafenib, t_rel, t_nrm, t_prd))
    h1, h2 = h1[keep], h2[keep]

    patients = base.copy()
    patients.insert(0, "patient_id", ids)
    patients["arm"] = np.where(sorafenib, "sorafenib", "control")
    patients["randomization_day"] = rand_day
    events = _events(rng, ids, engraft, ag_grade, ag_day, rand_day, sorafenib, t_rel, t_nrm,
                     t_prd, obs_end, base)
    relapse_day = np.where(t_rel <= np.minimum(t_nrm, obs_end), np.ceil(t_rel), np.inf)
    death_day = np.where(t_nrm < np.minimum(t_rel, obs_end), np.ceil(t_nrm), np.inf)
    stop = np.minimum(np.minimum(t_rel, t_nrm), obs_end)
    measurements = observe(rng, P, ids, re, stop, visit_days)

    truth_rows = []
    for L in truth_landmarks:
        at = np.minimum(t_rel, t_nrm) > L
        at &= obs_end > L
        risk = relapse_cif(h1[at], h2[at], P.dt, L, L + horizon_days)
        truth_rows.append(pd.DataFrame({"patient_id": ids[at], "landmark_day": float(L),
                                        "arm": patients["arm"].to_numpy()[at], "risk": risk}))
    at_landmarks = pd.concat(truth_rows, ignore_index=True)
    truth = _truth(P, re, base, ag_grade, ag_day, rand_day, n_cells, ids, t_rel, t_nrm,
                   landmark_day, horizon_days)
    latent = pd.DataFrame({"patient_id": ids, "a": re["a"], "b": re["b"], "u": re["u"],
                           "v": re["v"], "x_beta": re["x_beta"], "t_relapse": t_rel, "t_nrm": t_nrm,
                           "obs_end": obs_end, "relapse_day": relapse_day,
                           "death_day": death_day})
    meta = {"name": f"jm_trial_seed{seed}", "generator": "experiments/jm_simulator.py",
            "seed": int(seed), "n": int(n), "landmark_day": float(landmark_day),
            "horizon_days": float(horizon_days), "truth_landmarks": list(map(float, truth_landmarks)),
            "params": asdict(P),
            "visit_days": None if visit_days is None else [float(d) for d in visit_days]}
    return JMTrial(patients=patients, measurements=measurements, events=events, truth=truth,
                   meta=meta, truth_at_landmarks=at_landmarks, latent=latent)


def _truth(P, re, base, ag_grade, ag_day, rand_day, n_cells, ids, t_rel, t_nrm, L, H):
    at = np.minimum(t_rel, t_nrm) > L
    risks = {}
    for arm in ("control", "sorafenib"):
        h1, h2 = hazards(P, re, base, ag_grade, ag_day, np.full(len(ids), arm == "sorafenib"),
                         rand_day, n_cells)
        risks[arm] = np.where(at, relapse_cif(h1, h2, P.dt, L, L + H), np.nan)
    return pd.DataFrame({"patient_id": ids, "at_risk_at_landmark": at,
                         "risk_control": risks["control"], "risk_sorafenib": risks["sorafenib"],
                         "benefit": risks["control"] - risks["sorafenib"]})


def observe(rng, P: JMParams, ids, re, stop, visit_days=None) -> pd.DataFrame:
    """The three markers at the scheduled visits before ``stop`` (the first of relapse,
    death, end of follow-up); ``visit_days``: `relapse_ml.simulate.observe.visit_schedule`'s
    replacement of the early visits (a sensitivity analysis; None: the trial's schedule)."""
    from relapse_ml.simulate.observe import visit_schedule

    sch = visit_schedule(visit_days)
    n, V = len(ids), len(sch.days)
    days = sch.days[None, :] + np.round(rng.uniform(-1, 1, (n, V)) * sch.jitter)
    ok = (rng.random((n, V)) >= sch.missed[None, :]) & (days < stop[:, None])
    r, c = np.nonzero(ok)
    d = days[r, c]
    m = re["a"][r] + re["b"][r] * d / 365.0
    k = len(r)
    y_mrd = m + P.sigma_mrd * rng.standard_normal(k)
    mrd = np.where(y_mrd >= LOG_DL, np.minimum(10.0 ** y_mrd, 100.0), 0.0)
    y_wt1 = P.w0 + P.w1 * (m + 3) + re["u"][r] + P.sigma_wt1 * rng.standard_normal(k)
    wt1 = np.maximum(10.0 ** y_wt1 - 1.0, 0.0)
    y_ch = P.r0 + P.r1 * (m + 3) + re["v"][r] + P.sigma_chim * rng.standard_normal(k)
    chim = np.clip(101.0 - 10.0 ** y_ch, 0.0, 100.0)
    parts = []
    for name, val, dec, sample in (("mrd_mfc", mrd, 4, "BM"), ("wt1", wt1, 1, "BM"),
                                   ("donor_chimerism", chim, 1, "PB")):
        there = rng.random(k) >= MARKER_MISSED
        parts.append(pd.DataFrame({"patient_id": ids[r[there]], "day": d[there], "marker": name,
                                   "value": np.round(val[there], dec), "sample": sample}))
    out = pd.concat(parts, ignore_index=True)
    order = {"mrd_mfc": 0, "wt1": 1, "donor_chimerism": 2}
    out["_o"] = out["marker"].map(order)
    out = out.sort_values(["patient_id", "day", "_o"]).drop(columns="_o").reset_index(drop=True)
    return out


def _events(rng, ids, engraft, ag_grade, ag_day, rand_day, sorafenib, t_rel, t_nrm, t_prd,
            obs_end, base) -> pd.DataFrame:
    rows = []
    for i, pid in enumerate(ids):
        rows.append((pid, engraft[i], "engraftment", np.nan, None))
        if ag_grade[i] > 0:
            rows.append((pid, ag_day[i], "agvhd", float(ag_grade[i]), None))
        first = min(t_rel[i], t_nrm[i])
        if sorafenib[i]:
            rows.append((pid, rand_day[i], "sorafenib_start", np.nan, None))
            stop = rand_day[i] + 365
            if first < stop and first <= obs_end[i]:
                detail = "relapse" if t_rel[i] < t_nrm[i] else "other"
                rows.append((pid, max(np.ceil(first), rand_day[i] + 1), "sorafenib_stop", np.nan, detail))
            elif stop <= obs_end[i]:
                rows.append((pid, stop, "sorafenib_stop", np.nan, "completed"))
        if t_rel[i] <= min(t_nrm[i], obs_end[i]):
            rows.append((pid, np.ceil(t_rel[i]), "relapse", np.nan, None))
            if t_prd[i] <= obs_end[i]:
                rows.append((pid, max(np.ceil(t_prd[i]), np.ceil(t_rel[i])), "death", np.nan, "relapse"))
            else:
                rows.append((pid, np.floor(obs_end[i]), "last_followup", np.nan, None))
        elif t_nrm[i] < obs_end[i]:
            cause = "gvhd" if ag_grade[i] >= 2 and rng.random() < 0.6 else "infection"
            rows.append((pid, np.ceil(t_nrm[i]), "death", np.nan, cause))
        else:
            rows.append((pid, np.floor(obs_end[i]), "last_followup", np.nan, None))
    ev = pd.DataFrame(rows, columns=["patient_id", "day", "event", "grade", "detail"])
    return ev.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=346)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    simulate_jm(a.n, a.seed).write(a.out, overwrite=a.overwrite)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
