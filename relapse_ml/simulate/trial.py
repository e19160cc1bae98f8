"""`simulate_trial`: screen transplanted candidates, randomize, follow up, and record the truth."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd

from relapse_ml.data import contract as C
from relapse_ml.errors import RelapseMLError
from relapse_ml.simulate.arguments import (
    LAST_RANDOMIZATION_DAY,
    check_args,
    check_truth_landmarks,
)
from relapse_ml.simulate.disease import drug_sensitivity, node_day, start_drug, step
from relapse_ml.simulate.observe import Course, build_events, build_measurements, visit_schedule
from relapse_ml.simulate.params import PRE_STEPS, STEP_DAYS, GeneratorParams
from relapse_ml.simulate.population import Candidates, draw_candidates, population_parameters
from relapse_ml.simulate.result import SimulatedTrial
from relapse_ml.simulate.scenarios import DEFAULT_SCENARIO, SCENARIOS, get_scenario, with_effect
from relapse_ml.simulate.state import Kinetics, State, concat_rows
from relapse_ml.simulate.truth_tables import truth_at_landmarks_table, truth_table

# seed-sequence keys of the independent random streams (candidate batches use 0, 1, 2, ...)
_STREAM_ARMS, _STREAM_MEASURE, _STREAM_EVENTS, _STREAM_TRUTH = 10_001, 10_002, 10_004, 10_003
_STREAM_DRIFT = 10_005  # growth-drift noise: (key, batch) before randomization, (key,) after
_STREAM_TRUTH_AT = 10_006  # truth at later landmarks: (key, landmark day)


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _run(
    kin: Kinetics,
    st: State,
    k_from: int,
    k_to: int,
    scen,
    P,
    rng: np.random.Generator,
    snapshots: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample the course from node ``k_from`` to ``k_to``; burden and chimerism at every node.

    ``rng`` draws the growth-drift noise, one standard normal per patient and step.
    ``snapshots`` (landmark day -> list) collects, for each landmark L, the state of the
    patients still event-free at the last node at or before L: ``(rows, state, node)``
    per node (a copy of those rows only, so memory grows with the landmarks asked for).
    """
    xs, rhos = [st.x.astype(np.float32)], [st.lrho.astype(np.float32)]
    for k in range(k_from, k_to):
        for day, parts in (snapshots or {}).items():
            here = (node_day(kin.rand_day, k) <= day) & (day < node_day(kin.rand_day, k + 1))
            rows = np.flatnonzero(here & np.isnan(st.t_relapse) & np.isnan(st.t_nrm))
            if rows.size:
                parts.append((rows, st.take(rows), k))
        step(kin, st, k, scen, P, sample=True, z=rng.standard_normal(len(st)))
        xs.append(st.x.astype(np.float32))
        rhos.append(st.lrho.astype(np.float32))
    return np.stack(xs, axis=1), np.stack(rhos, axis=1)


def screen_reasons(c: Candidates, st: State) -> np.ndarray:
    """Why each candidate was not randomized on its screening day ("" when randomized)."""
    p, kin = c.patients, c.kinetics
    day = kin.rand_day
    dx = p["diagnosis"]
    checks = [
        ("died before randomization", st.t_nrm <= day),
        ("relapsed before randomization", st.t_relapse <= day),
        ("lost to follow-up before randomization", c.followup_end < day),
        ("no hematopoietic recovery by day 60", ~(kin.engraft_day <= LAST_RANDOMIZATION_DAY)),
        ("acute GVHD grade II-IV before randomization", (st.ag_grade >= 2) & (st.ag_onset <= day)),
        ("age outside 18-65", (p["age"] < 18) | (p["age"] > 65)),
        ("ECOG 3-4", p["ecog"] >= 3),
        ("prior allo-HSCT", p["prior_allo_hsct"] > 0),
        ("FLT3 mutated or unknown", p["flt3"] != "negative"),
        ("APL", p["apl"]),
        ("Ph-positive ALL", (dx == "ALL") & p["ph_positive"]),
        ("CML in blast crisis", p["cml_blast_crisis"]),
        ("sorafenib intolerance", p["sorafenib_intolerance"]),
        ("life expectancy under 30 days", p["life_expectancy_days"] < 30),
        ("LVEF below 50%", p["lvef_pct"] < 50),
        ("PaO2 <= 60 mmHg", p["pao2_mmhg"] <= 60),
        ("bilirubin >= 3 mg/dL", p["bilirubin_mg_dl"] >= 3),
        ("AST or ALT above 2x ULN", (p["ast_x_uln"] > 2) | (p["alt_x_uln"] > 2)),
        ("creatinine clearance below 30 mL/min", p["crcl_ml_min"] < 30),
        ("uncontrolled infection", p["uncontrolled_infection"]),
        ("declined consent", c.declined),
    ]
    reason = np.full(len(day), "", dtype=object)
    for text, hit in reversed(checks):  # the first failing check wins
        reason = np.where(np.asarray(hit, bool), text, reason)
    return reason


def _permuted_blocks(rng: np.random.Generator, n: int, block: int = 4) -> np.ndarray:
    """1:1 allocation in permuted blocks: True = sorafenib."""
    blocks = -(-n // block)
    base = np.tile(np.arange(block) < block // 2, (blocks, 1))
    return rng.permuted(base, axis=1).ravel()[:n]


def _screen_until(n: int, seed: int, scen, P: GeneratorParams):
    """Candidate batches until ``n`` are randomized; stage-1 courses and their reasons."""
    batches, states, hists, reasons = [], [], [], []
    randomized, b, rate = 0, 0, 0.4
    while randomized < n:
        size = int(math.ceil((n - randomized) / rate * 1.1)) + 32
        c = draw_candidates(_stream(seed, b), size, P)
        st = c.state
        hist = _run(c.kinetics, st, 0, PRE_STEPS, scen, P, _stream(seed, _STREAM_DRIFT, b))
        why = screen_reasons(c, st)
        batches.append(c)
        states.append(st)
        hists.append(hist)
        reasons.append(why)
        randomized += int((why == "").sum())
        seen = sum(len(r) for r in reasons)
        rate = max(0.05, sum(int((r == "").sum()) for r in reasons) / seen)
        b += 1
    reason = np.concatenate(reasons)
    last = int(np.flatnonzero(reason == "")[n - 1])  # the n-th randomized candidate ends screening
    keep = np.arange(last + 1)
    c = Candidates(
        patients={
            k: np.concatenate([x.patients[k] for x in batches])[keep] for k in batches[0].patients
        },
        kinetics=concat_rows([x.kinetics for x in batches]).take(keep),
        state=concat_rows(states).take(keep),
        followup_end=np.concatenate([x.followup_end for x in batches])[keep],
        e_post_relapse=np.concatenate([x.e_post_relapse for x in batches])[keep],
        declined=np.concatenate([x.declined for x in batches])[keep],
    )
    x_hist = np.concatenate([h[0] for h in hists])[keep]
    rho_hist = np.concatenate([h[1] for h in hists])[keep]
    return c, reason[keep], x_hist, rho_hist


def simulate_trial(
    n: int = 346,
    seed: int = 0,
    scenario: str = DEFAULT_SCENARIO,
    landmark_day: int = 60,
    horizon_days: int = 730,
    screen_failures: bool = False,
    truth: bool = True,
    truth_draws: int = 64,
    effect: dict | None = None,
    truth_landmarks=(),
    visit_days=None,
) -> SimulatedTrial:
    """Simulate the NCT04674345 trial: ``n`` randomized patients in the data contract, with truth.

    Candidates are transplanted and screened on day 45-60 until ``n`` are randomized
    (alive, relapse-free, eligible; any grade II-IV aGVHD before screening excludes, as
    the eligibility check reads the criterion). With ``screen_failures`` the screened but
    not randomized candidates are included too (``arm`` empty, followed to their
    screening day only; ``truth.screen_reason`` says why).

    ``landmark_day`` (>= 60, the last randomization day) and ``horizon_days`` define the
    truth: each patient's risk of relapse (and of relapse or death) in
    (landmark_day, landmark_day + horizon_days] under each arm, given the latent state at
    randomization and being alive and relapse-free at the landmark. ``truth_draws`` is the
    most future paths per patient (a power of two; spent adaptively): the default 64
    gives a root-mean-square Monte Carlo error of about 0.015-0.02 per risk (plain
    Monte Carlo would give 0.04-0.05), about 0.03 for the 90th percentile; 16 or 32
    suffice when the truth is only averaged over many patients. ``truth=False`` skips the truth (risk columns NaN).

    The same seed gives the same candidates, arm assignment and control-arm data in every
    scenario. ``effect`` changes the scenario's drug-effect parameters (fields of
    `scenarios.Scenario`, e.g. ``{"growth_cut": 0.3}``) for design studies.

    ``truth_landmarks`` (days >= 60, e.g. ``[60, 90, 180, 365]``) adds the truth at later
    visits, in ``truth_at_landmarks`` (one row per landmark and patient randomized and
    alive and relapse-free at it): the risk of relapse (and of relapse or death) in
    (L, L + horizon_days] given the latent state at L (the last 14-day grid node at or
    before L), the arm actually received with its drug course so far, and being alive
    and relapse-free at L (`truth.truth_at_landmark`; ``truth_draws`` paths at most).

    ``visit_days`` (days after transplant) replaces the scheduled marker visits up to the
    last of them, the default schedule continuing after it (`observe.visit_schedule`; a
    sensitivity analysis, e.g. MRD every two weeks early on). Only what is measured changes:
    the same seed gives the same patients, courses, events and truth.
    """
    check_args(n, seed, scenario, landmark_day, horizon_days, truth_draws)
    try:
        schedule = visit_schedule(visit_days)
    except ValueError as err:
        raise RelapseMLError(str(err)) from None
    later = check_truth_landmarks(truth_landmarks, horizon_days) if truth else []
    scen = with_effect(get_scenario(scenario), effect)
    P = GeneratorParams()
    c, reason, x1, rho1 = _screen_until(int(n), int(seed), scen, P)
    rand_idx = np.flatnonzero(reason == "")
    arm_sor = _permuted_blocks(_stream(seed, _STREAM_ARMS), len(rand_idx))

    # stage 2: follow the randomized patients under their arm
    kin = c.kinetics.take(rand_idx)
    st = c.state.take(rand_idx)
    kin.sensitivity = drug_sensitivity(kin, st, scen, P, c.patients["cytogenetic_risk"][rand_idx])
    at_r = st.take(np.arange(len(st)))  # arm-independent state at randomization, for the truth
    start_drug(st, kin, arm_sor, P)
    end = c.followup_end[rand_idx]
    k_last = PRE_STEPS + int(math.ceil((end.max() - kin.rand_day.min()) / STEP_DAYS)) + 1
    snapshots = {day: [] for day in later}
    x2, rho2 = _run(
        kin, st, PRE_STEPS, k_last, scen, P, _stream(seed, _STREAM_DRIFT), snapshots
    )

    course = _course(
        c, reason, rand_idx, arm_sor, st, x1, rho1, x2, rho2, P, scen, screen_failures
    )
    ids = course.ids
    measurements = build_measurements(_stream(seed, _STREAM_MEASURE), course, schedule=schedule)
    events = build_events(_stream(seed, _STREAM_EVENTS), course, P)
    patients = _patients_table(c, ids, course.take_idx, arm_sor, rand_idx)

    truth_df = truth_table(
        ids,
        course,
        rand_idx,
        reason,
        kin,
        at_r,
        scen,
        P,
        landmark_day,
        horizon_days,
        truth_draws if truth else 0,
        _stream(seed, _STREAM_TRUTH),
    )
    at_landmarks = truth_at_landmarks_table(
        ids, course, kin, snapshots, scen, P, horizon_days, truth_draws,
        lambda day: _stream(seed, _STREAM_TRUTH_AT, int(round(day))),
    )
    meta = _meta(
        n,
        seed,
        scenario,
        scen,
        P,
        landmark_day,
        horizon_days,
        truth,
        truth_draws,
        reason,
        screen_failures,
    )
    meta["truth"]["landmarks"] = later
    meta["visit_days"] = schedule.days.tolist()
    return SimulatedTrial(patients, measurements, events, truth_df, meta, at_landmarks)


def _course(
    c, reason, rand_idx, arm_sor, st2, x1, rho1, x2, rho2, P, scen, screen_failures
) -> Course:
    """Stitch screening and follow-up into one `Course` for the output patients."""
    n_cand = len(reason)
    take = np.arange(n_cand) if screen_failures else rand_idx
    pos = np.full(n_cand, -1)
    pos[rand_idx] = np.arange(len(rand_idx))
    p2 = pos[take]
    is_rand = p2 >= 0
    st1 = c.state.take(take)
    kin1 = c.kinetics.take(take)

    def merged(name):
        v = getattr(st1, name).copy()
        v[is_rand] = getattr(st2, name)[p2[is_rand]]
        return v

    n_nodes = x1.shape[1] + x2.shape[1] - 1
    x_nodes = np.full((len(take), n_nodes), np.nan, np.float32)
    rho_nodes = np.full((len(take), n_nodes), np.nan, np.float32)
    x_nodes[:, : x1.shape[1]] = x1[take]
    rho_nodes[:, : x1.shape[1]] = rho1[take]
    x_nodes[is_rand, x1.shape[1] - 1 :] = x2[p2[is_rand]]
    rho_nodes[is_rand, x1.shape[1] - 1 :] = rho2[p2[is_rand]]

    t_rel = merged("t_relapse")
    t_nrm = merged("t_nrm")
    t_death = np.where(
        ~np.isnan(t_nrm), t_nrm, t_rel + c.e_post_relapse[take] / P.post_relapse_death_rate
    )
    rand_day = kin1.rand_day
    obs_end = np.where(is_rand, c.followup_end[take], np.minimum(rand_day, c.followup_end[take]))
    on = np.zeros(len(take), bool)
    on[is_rand] = arm_sor[p2[is_rand]]
    width = max(5, len(str(len(take))))
    course = Course(
        ids=np.array([f"SIM{i + 1:0{width}d}" for i in range(len(take))], dtype=object),
        rand_day=rand_day,
        on_sorafenib=on,
        obs_end=obs_end.astype(float),
        engraft_day=kin1.engraft_day,
        ag_grade=merged("ag_grade"),
        ag_onset=merged("ag_onset"),
        cg_grade=merged("cg_grade"),
        cg_onset=merged("cg_onset"),
        is_end=merged("is_start") + P.is_taper_days,
        t_relapse=t_rel,
        t_death=t_death,
        nrm=~np.isnan(t_nrm),
        harm=kin1.harm,
        t_red1=merged("t_red1"),
        t_red2=merged("t_red2"),
        t_stop=merged("t_stop"),
        stop_reason=merged("stop_reason"),
        x_nodes=x_nodes,
        rho_nodes=rho_nodes,
        harm_scenario=scen.harm_nrm != 1.0,
        take_idx=take,
        is_rand=is_rand,
        rand_pos=p2,
    )
    return course


def _patients_table(c: Candidates, ids, take, arm_sor, rand_idx) -> pd.DataFrame:
    p = {k: v[take] for k, v in c.patients.items()}
    pos = np.full(len(c.followup_end), -1)
    pos[rand_idx] = np.arange(len(rand_idx))
    p2 = pos[take]
    arm = np.full(len(take), None, dtype=object)
    arm[p2 >= 0] = np.where(arm_sor[p2[p2 >= 0]], "sorafenib", "control")
    rday = np.where(p2 >= 0, c.kinetics.rand_day[take], np.nan)
    cols = {"patient_id": ids}
    for name in C.PATIENT_REQUIRED[1:]:
        cols[name] = p[name]
    cols["hct_ci"] = p["hct_ci"]
    cols["arm"] = arm
    cols["randomization_day"] = rday
    for name in C.SCREENING_COLUMNS:
        cols[name] = p[name]
    df = pd.DataFrame(cols)
    for name in ("age", "ecog", "hct_ci", "prior_allo_hsct"):
        df[name] = df[name].astype(int)
    for name in C.SCREENING_BOOL:
        df[name] = df[name].astype(bool)
    return df


def _meta(
    n, seed, scenario, scen, P, landmark, horizon, truth, draws, reason, screen_failures
) -> dict:
    vals, counts = np.unique(reason, return_counts=True)
    flow = {
        ("randomized" if v == "" else str(v)): int(k) for v, k in zip(vals, counts, strict=True)
    }
    return {
        "name": f"sim_{scenario}_seed{seed}_n{n}",
        "generator": "relapse_ml.simulate",
        "contract_version": C.CONTRACT_VERSION,
        "scenario": scenario,
        "scenario_description": SCENARIOS[scenario],
        "scenario_parameters": asdict(scen),
        "seed": int(seed),
        "n": int(n),
        "n_screened": int(len(reason)),
        "screening_flow": flow,
        "screen_failures_included": bool(screen_failures),
        "landmark_day": landmark,
        "horizon_days": horizon,
        "truth": {
            "computed": bool(truth),
            "draws_per_patient": int(draws) if truth else 0,
            "definition": (
                "risk_<arm> = P(relapse in (landmark_day, landmark_day + horizon_days] | state at "
                "randomization, arm, alive and relapse-free at landmark_day), NRM competing; "
                "rfs_risk_<arm> = the same for relapse or death; benefit = control - sorafenib"
            ),
            "burden_units": "log10 % leukemic cells in marrow (latent)",
        },
        "step_days": STEP_DAYS,
        "params": asdict(P),
        "population": population_parameters(),
    }
