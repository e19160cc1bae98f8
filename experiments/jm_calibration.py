"""Calibrate `jm_simulator` BEFORE looking at the toolkit (issue 10, pre-registered).

Only two scores are looked at: the oracle (the truth as the score) and the careful landmark
Cox of `benchmark_visits.careful_cox`, plus the outcome rates after the landmark. Targets
(experiments/results/jm_calibration.md): at day 60 (train 2,500 / test 1,500, 3 seeds)
oracle C 0.75–0.79, careful Cox 0.655–0.685; at day 180 careful Cox 0.75–0.77; 2-year
relapse incidence after day 60 0.25–0.30, NRM 0.10–0.15. Calibration seeds (101–103 train,
1101–1103 test) are not the benchmark's (1–5 / 1001–1005).

Every tried parameter set is appended to ``jm_calibration.jsonl``:

    nice -n 10 .venv/bin/python experiments/jm_calibration.py alpha=1.0 gamma=0.5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchmark_trajectory import metrics  # noqa: E402
from benchmark_visits import HORIZON, TAU, careful_cox  # noqa: E402
from jm_simulator import JMParams, simulate_jm  # noqa: E402

OUT = HERE / "results" / "jm_calibration.jsonl"
SEEDS = (101, 102, 103)


def incidence(d) -> tuple[float, float]:
    """Aalen–Johansen relapse and NRM incidence at TAU from the landmark data."""
    from relapse_ml.models import make_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aj = make_model("aalen_johansen").fit(d.X.iloc[:, :1], d.time, d.event)
        f = aj.predict_cumulative_incidence(d.X.iloc[:1, :1], [TAU])[0]
    return float(f[1, 0]), float(f[2, 0])


def evaluate(P: JMParams, seeds=SEEDS, landmarks=(60, 180), n_train=2500, n_test=1500):
    from relapse_ml.features import DEFAULT_FEATURES
    from relapse_ml.landmark import landmark_dataset

    rows = []
    for s in seeds:
        tr_s = simulate_jm(n_train, s, P, truth_landmarks=landmarks)
        te_s = simulate_jm(n_test, 1000 + s, P, truth_landmarks=landmarks)
        tr_c, te_c = tr_s.to_cohort(), te_s.to_cohort()
        truth = te_s.truth_at_landmarks.set_index(["landmark_day", "patient_id"])["risk"]
        for L in landmarks:
            tr = landmark_dataset(tr_c, L, HORIZON, features=DEFAULT_FEATURES)
            te = landmark_dataset(te_c, L, HORIZON, features=DEFAULT_FEATURES)
            t_l = truth.loc[float(L)].reindex(te.patient_id).to_numpy(float)
            keep = ~np.isnan(t_l)
            te, t_l = te.select(keep), t_l[keep]
            rel, nrm = incidence(te)
            row = {"seed": s, "landmark": L, "relapse_2y": rel, "nrm_2y": nrm,
                   "oracle_c": metrics(tr, te, t_l)["c_index"],
                   "careful_c": metrics(tr, te, careful_cox(tr, te))["c_index"]}
            rows.append(row)
    return rows


def summary(rows) -> dict:
    out = {}
    for L in sorted({r["landmark"] for r in rows}):
        g = [r for r in rows if r["landmark"] == L]
        for k in ("oracle_c", "careful_c", "relapse_2y", "nrm_2y"):
            v = np.array([r[k] for r in g])
            out[f"L{L}_{k}"] = [round(float(v.mean()), 4), round(float(v.std(ddof=1)), 4)]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("overrides", nargs="*", help="JMParams fields, NAME=VALUE")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    a = ap.parse_args(argv)
    kw = {k: float(v) for k, v in (o.split("=", 1) for o in a.overrides)}
    P = replace(JMParams(), **kw)
    t0 = time.time()
    rows = evaluate(P, a.seeds)
    res = {"overrides": kw, "params": asdict(P), "seeds": a.seeds, "summary": summary(rows),
           "rows": rows, "wall_s": round(time.time() - t0, 1)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("a") as fh:
        fh.write(json.dumps(res) + "\n")
    for k, v in res["summary"].items():
        print(f"{k:<18} {v[0]:.3f} ± {v[1]:.3f}")
    print(f"({res['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
