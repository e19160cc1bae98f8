"""What the clinic sees of a simulated course: noisy, incomplete measurements and events.

Measurements are taken at scheduled visits (about days 30, 60, 90, 120, 180, 270, 365,
then every 6 months, each jittered, some missed) while the patient is alive, relapse-free
and followed, plus the marrow that diagnoses a relapse. Event days are the continuous
event times rounded up (a relapse at t = 100.2 is recorded on day 101), so "relapse by
day d" means the same in the tables and in the generating process.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
from scipy.special import ndtri

from relapse_ml.simulate.params import PRE_STEPS, STEP_DAYS, GeneratorParams
from relapse_ml.simulate.state import STOP_DETAIL

VISIT_DAYS = np.array(
    [30, 60, 90, 120, 180, 270, 365] + [365 + round(182.5 * j) for j in range(1, 20)], float
)
VISIT_JITTER = np.array([3, 3, 5, 5, 7, 10, 14] + [14] * 19, float)
VISIT_MISSED = np.array([0.08] * 4 + [0.12] * 3 + [0.18] * 19)
MARKER_MISSED = 0.05
MFC_MIN_EVENTS = 50  # clustered events needed to call MFC-MRD positive (about 0.01 % of 5e5 cells)
MFC_FALSE_POSITIVE = 0.01
WT1_EXPRESSERS = 0.7
CHIMERISM_PB_SHARE = 0.3
DLI_AFTER_RELAPSE = 0.4
EVENT_ORDER = {
    "engraftment": 0,
    "agvhd": 1,
    "cgvhd": 2,
    "is_withdrawal": 3,
    "sorafenib_start": 4,
    "sorafenib_dose_change": 5,
    "relapse": 6,
    "sorafenib_stop": 7,
    "dli": 8,
    "death": 9,
    "last_followup": 10,
}


@dataclass
class Course:
    """One realized course per output patient (arrays aligned with the patients table).

    Times ``t_*`` are continuous days (NaN: did not happen); ``obs_end`` is the last day
    of follow-up (screen failures are followed to their screening day only).
    """

    ids: np.ndarray
    rand_day: np.ndarray
    on_sorafenib: np.ndarray  # bool: randomized to sorafenib
    obs_end: np.ndarray
    engraft_day: np.ndarray
    ag_grade: np.ndarray
    ag_onset: np.ndarray
    cg_grade: np.ndarray
    cg_onset: np.ndarray
    is_end: np.ndarray  # day immunosuppression reaches zero
    t_relapse: np.ndarray
    t_death: np.ndarray
    nrm: np.ndarray  # bool: death without relapse
    harm: np.ndarray
    t_red1: np.ndarray
    t_red2: np.ndarray
    t_stop: np.ndarray
    stop_reason: np.ndarray
    x_nodes: np.ndarray  # (n, nodes) burden at each node, NaN past the simulated range
    rho_nodes: np.ndarray  # (n, nodes) log10 recipient fraction
    harm_scenario: bool = False
    take_idx: np.ndarray | None = None  # candidate index of each output patient
    is_rand: np.ndarray | None = None  # bool: randomized
    rand_pos: np.ndarray | None = None  # position among the randomized (-1: not randomized)

    def take(self, rows: np.ndarray) -> Course:
        """The courses of patients ``rows``."""
        return replace(
            self,
            **{
                f.name: getattr(self, f.name)[rows]
                for f in fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)
            },
        )


def interpolate_nodes(nodes: np.ndarray, rand_day: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Linear interpolation of node values (n, K) at ``days`` (n, V) on each patient's grid."""
    rand_day = rand_day[:, None]
    k = np.floor((days - rand_day + STEP_DAYS * PRE_STEPS) / STEP_DAYS).astype(int)
    k = np.clip(k, 0, nodes.shape[1] - 2)
    t0 = np.maximum(0.0, rand_day + STEP_DAYS * (k - PRE_STEPS))
    t1 = np.maximum(0.0, rand_day + STEP_DAYS * (k + 1 - PRE_STEPS))
    frac = np.where(t1 > t0, (days - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0)
    rows = np.arange(nodes.shape[0])[:, None]
    v0, v1 = nodes[rows, k], nodes[rows, k + 1]
    frac = np.clip(frac, 0.0, 1.0)
    # on a node itself the next node is not needed (it may lie past the simulated range)
    return np.where(frac > 0, v0 + frac * (v1 - v0), v0)


def _normal(rng: np.random.Generator, shape) -> np.ndarray:
    """Standard normals by inversion: a fixed number of draws per value.

    Every draw in this module is a transformed uniform, so the stream position never
    depends on the values (numpy's samplers use rejection). The same seed then gives the
    same observations of the same latent course in every scenario.
    """
    return ndtri(rng.random(shape))


def _day(t: np.ndarray) -> np.ndarray:
    """Continuous time -> recorded day (rounded up, at least 1)."""
    return np.maximum(1.0, np.ceil(t))


@dataclass(frozen=True)
class Schedule:
    """Scheduled visit days with their jitter (± days) and the chance each is missed."""

    days: np.ndarray
    jitter: np.ndarray
    missed: np.ndarray


DEFAULT_SCHEDULE = Schedule(VISIT_DAYS, VISIT_JITTER, VISIT_MISSED)


def visit_schedule(visit_days=None) -> Schedule:
    """The default schedule, or ``visit_days`` (days after transplant, > 0) up to the last of
    them followed by the default visits after it (a sensitivity analysis: e.g. MRD every two
    weeks early on). Given days are jittered by ±10 % (at least 1, at most 14 days) and missed
    as the default visits of the same period are."""
    if visit_days is None:
        return DEFAULT_SCHEDULE
    given = np.unique(np.asarray(visit_days, dtype=float))
    if given.size == 0 or not np.isfinite(given).all() or given[0] <= 0:
        raise ValueError(f"visit_days must be days > 0 after transplant, got {visit_days!r}")
    later = VISIT_DAYS > given[-1]
    jitter = np.clip(np.round(0.1 * given), 1, 14)
    missed = np.interp(given, VISIT_DAYS, VISIT_MISSED)
    return Schedule(np.r_[given, VISIT_DAYS[later]], np.r_[jitter, VISIT_JITTER[later]],
                    np.r_[missed, VISIT_MISSED[later]])


def _visit_days(rng: np.random.Generator, c: Course, schedule: Schedule = DEFAULT_SCHEDULE):
    """Visit days (n, V), NaN where missed or not under observation."""
    n = len(c.ids)
    jitter = np.round(rng.uniform(-1, 1, (n, schedule.days.size)) * schedule.jitter)
    days = schedule.days[None, :] + jitter
    ok = rng.random(days.shape) >= schedule.missed[None, :]
    ok &= days <= c.obs_end[:, None]
    ok &= ~(days >= c.t_relapse[:, None])  # NaN relapse -> no restriction
    ok &= ~(days >= c.t_death[:, None])
    return np.where(ok, days, np.nan)


MARKER_NAMES = np.array(["mrd_mfc", "wt1", "donor_chimerism"], dtype=object)
SAMPLE_NAMES = np.array(["BM", "PB"], dtype=object)


def build_measurements(rng: np.random.Generator, c: Course, chunk: int = 20_000,
                       schedule: Schedule = DEFAULT_SCHEDULE) -> pd.DataFrame:
    """MFC-MRD, WT1 and donor chimerism at the visits and at relapse diagnosis."""
    parts = [
        _measurements(rng, c, np.arange(lo, min(len(c.ids), lo + chunk)), schedule)
        for lo in range(0, len(c.ids), chunk)
    ]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    # ids are zero-padded in row order, so sorting by row index sorts by patient_id
    order = np.lexsort((cols["marker"], cols["day"], cols["row"]))
    return pd.DataFrame(
        {
            "patient_id": c.ids[cols["row"][order]],
            "day": cols["day"][order],
            "marker": MARKER_NAMES[cols["marker"][order]],
            "value": cols["value"][order],
            "sample": SAMPLE_NAMES[cols["sample"][order]],
        }
    )


def _measurements(rng: np.random.Generator, c: Course, rows: np.ndarray,
                  schedule: Schedule = DEFAULT_SCHEDULE) -> dict[str, np.ndarray]:
    """Measurements of the patients ``rows`` of ``c`` (a chunk, to bound memory), as arrays."""
    c = c.take(rows)
    n = rows.size
    days = _visit_days(rng, c, schedule)
    relapse_day = _day(c.t_relapse)
    seen_relapse = ~np.isnan(c.t_relapse) & (relapse_day <= c.obs_end)
    days = np.column_stack([days, np.where(seen_relapse, relapse_day, np.nan)])
    at_relapse = np.zeros(days.shape, bool)
    at_relapse[:, -1] = True
    x = interpolate_nodes(c.x_nodes, c.rand_day, np.nan_to_num(days, nan=0.0))
    lrho = interpolate_nodes(c.rho_nodes, c.rand_day, np.nan_to_num(days, nan=0.0))
    burden = 10.0**x  # % of marrow cells
    shape = days.shape

    # MFC: count of leukemic events among the acquired cells of a diluted marrow
    # (Gaussian approximation of the Poisson count; below 30 expected events a call of
    # positivity, which needs 50, is practically impossible)
    dilution = 1.0 / (1.0 + np.exp(-(1.6 + 0.7 * _normal(rng, shape))))  # mean about 0.8
    cells = np.round(np.exp(np.log(5e5) + 0.3 * _normal(rng, shape)))
    expected = cells * burden * dilution / 100.0
    count = np.where(
        expected >= 30, np.round(expected + np.sqrt(expected) * _normal(rng, shape)), 0.0
    )
    noise = np.exp(0.15 * _normal(rng, shape))
    mrd = np.where(count >= MFC_MIN_EVENTS, count / cells * 100.0 * noise, 0.0)
    mrd = np.where(mrd > 0, np.maximum(mrd, 0.01), mrd)
    false_pos = (mrd == 0) & (rng.random(shape) < MFC_FALSE_POSITIVE)
    mrd = np.where(false_pos, 0.01 + 0.02 * rng.random(shape), mrd)
    mrd = np.round(np.minimum(mrd, 100.0), 4)

    # WT1: normal background plus the leukemia's own expression (if it expresses WT1)
    expresser = rng.random(n) < WT1_EXPRESSERS
    expr = np.where(expresser, np.exp(np.log(8000) + 0.7 * _normal(rng, n)), 0.0)
    background = np.exp(np.log(15) + 0.6 * _normal(rng, shape))
    wt1 = (background + expr[:, None] * burden * dilution / 100.0) * np.exp(
        0.25 * _normal(rng, shape)
    )
    wt1 = np.round(wt1, 1)

    # chimerism: recipient share = normal recipient cells + leukemia (less of it in blood)
    pb = (rng.random(shape) < CHIMERISM_PB_SHARE) & ~at_relapse
    recipient = 10.0**lrho + np.where(pb, 0.3, 1.0) * burden / 100.0
    donor = np.clip(100.0 * (1.0 - recipient) + _normal(rng, shape), 0.0, 100.0)
    donor = np.round(np.where(recipient < 0.01, 100.0, np.minimum(donor, 99.9)), 1)

    have = ~np.isnan(days)
    out: dict[str, list] = {"row": [], "day": [], "marker": [], "value": [], "sample": []}
    for code, value, sample in (
        (0, mrd, np.zeros(shape, np.int8)),
        (1, wt1, np.zeros(shape, np.int8)),
        (2, donor, pb.astype(np.int8)),
    ):
        keep = have & (at_relapse | (rng.random(shape) >= MARKER_MISSED))
        r, v = np.nonzero(keep)
        out["row"].append(rows[r])
        out["day"].append(days[r, v])
        out["marker"].append(np.full(r.size, code, np.int8))
        out["value"].append(value[r, v])
        out["sample"].append(sample[r, v])
    return {k: np.concatenate(v) for k, v in out.items()}


def _cause_of_death(rng: np.random.Generator, c: Course) -> np.ndarray:
    """Cause of each death: relapse, or for NRM gvhd / infection / toxicity / other."""
    t = c.t_death
    severe = ((c.ag_grade >= 3) & (c.ag_onset < t)) | ((c.cg_grade == 3) & (c.cg_onset < t))
    any_gvhd = ((c.ag_grade >= 1) & (c.ag_onset < t)) | ((c.cg_grade >= 1) & (c.cg_onset < t))
    on_drug = c.on_sorafenib & (t >= c.rand_day) & ~(t >= c.t_stop)
    p_gvhd = np.where(severe, 0.55, np.where(any_gvhd, 0.15, 0.03))
    p_tox = np.where(on_drug & c.harm & c.harm_scenario, 0.35, np.where(on_drug, 0.10, 0.08))
    u = rng.random(len(t))
    rest = 1.0 - p_gvhd - p_tox
    cause = np.where(
        u < p_gvhd,
        "gvhd",
        np.where(
            u < p_gvhd + p_tox,
            "toxicity",
            np.where(u < p_gvhd + p_tox + 0.6 * rest, "infection", "other"),
        ),
    )
    return np.where(c.nrm, cause, "relapse").astype(object)


def build_events(rng: np.random.Generator, c: Course, P: GeneratorParams) -> pd.DataFrame:
    """The events table: engraftment, GVHD, drug course, relapse, DLI, death, last follow-up."""
    n = len(c.ids)
    end = c.obs_end
    death_day = np.where(np.isnan(c.t_death), np.inf, _day(c.t_death))
    dead = death_day <= end
    relapse_day = np.where(np.isnan(c.t_relapse), np.inf, _day(c.t_relapse))
    relapsed = relapse_day <= end
    # clinical events are recorded while relapse-free, alive and followed
    t_clin = np.fmin(
        np.where(np.isnan(c.t_relapse), np.inf, c.t_relapse),
        np.where(np.isnan(c.t_death), np.inf, c.t_death),
    )

    def clinical(t):
        return ~np.isnan(t) & (t < t_clin) & (_day(np.nan_to_num(t, nan=0.0)) <= end)

    rows: list[tuple[np.ndarray, np.ndarray, str, np.ndarray, np.ndarray]] = []

    def add(mask, day, event, grade=None, detail=None):
        idx = np.flatnonzero(mask)
        g = np.full(idx.size, np.nan) if grade is None else np.asarray(grade, float)[idx]
        d = (
            np.full(idx.size, None, dtype=object)
            if detail is None
            else np.asarray(detail, dtype=object)[idx]
        )
        rows.append((idx, np.asarray(day, float)[idx], event, g, d))

    eng = np.isfinite(c.engraft_day) & (c.engraft_day <= end) & (c.engraft_day < t_clin)
    add(eng, c.engraft_day, "engraftment")
    add(
        clinical(c.ag_onset) & (c.ag_grade > 0),
        _day(np.nan_to_num(c.ag_onset, nan=1.0)),
        "agvhd",
        c.ag_grade,
    )
    add(
        clinical(c.cg_onset) & (c.cg_grade > 0),
        _day(np.nan_to_num(c.cg_onset, nan=1.0)),
        "cgvhd",
        c.cg_grade,
    )
    restarted = (c.cg_grade >= 2) & (c.cg_onset < c.is_end)
    add(clinical(c.is_end) & ~restarted, _day(c.is_end), "is_withdrawal")

    # sorafenib course: start at randomization, reductions, stop (completed, toxicity,
    # other, or at relapse while still on drug)
    soraf = c.on_sorafenib
    add(soraf, c.rand_day, "sorafenib_start")
    t_stop = np.where(np.isnan(c.t_stop), np.inf, c.t_stop)
    mg = np.asarray(P.dose_mg, float)
    add(
        soraf & clinical(c.t_red1) & (c.t_red1 < t_stop),
        _day(np.nan_to_num(c.t_red1, nan=1.0)),
        "sorafenib_dose_change",
        np.full(n, mg[1]),
    )
    add(
        soraf & clinical(c.t_red2) & (c.t_red2 < t_stop),
        _day(np.nan_to_num(c.t_red2, nan=1.0)),
        "sorafenib_dose_change",
        np.full(n, mg[2]),
    )
    detail = np.array([STOP_DETAIL.get(int(r), "other") for r in c.stop_reason], dtype=object)
    stop_seen = soraf & clinical(np.where(np.isinf(t_stop), np.nan, t_stop))
    add(stop_seen, _day(np.where(np.isinf(t_stop), 1.0, t_stop)), "sorafenib_stop", detail=detail)
    stop_at_relapse = soraf & relapsed & (c.t_relapse < t_stop)
    add(stop_at_relapse, relapse_day, "sorafenib_stop", detail=np.full(n, "relapse", dtype=object))

    add(relapsed, relapse_day, "relapse")
    dli_day = relapse_day + np.floor(7 + 15 * rng.random(n))
    add(
        relapsed & (rng.random(n) < DLI_AFTER_RELAPSE) & (dli_day <= end) & (dli_day < death_day),
        dli_day,
        "dli",
    )
    add(dead, death_day, "death", detail=_cause_of_death(rng, c))
    add(~dead, end, "last_followup")

    idx = np.concatenate([r[0] for r in rows])
    day = np.concatenate([r[1] for r in rows])
    kind = np.concatenate([np.full(r[0].size, EVENT_ORDER[r[2]], np.int8) for r in rows])
    order = np.lexsort((kind, day, idx))  # by patient (ids are in row order), day, event order
    names = np.array(list(EVENT_ORDER), dtype=object)
    return pd.DataFrame(
        {
            "patient_id": c.ids[idx[order]],
            "day": day[order],
            "event": names[kind[order]],
            "grade": np.concatenate([r[3] for r in rows])[order],
            "detail": np.concatenate([r[4] for r in rows])[order],
        }
    )
