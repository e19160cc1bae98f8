"""Time one cause-specific Cox coefficient fit: lifelines vs scikit-survival vs the Fine–Gray
Newton solver run without competing events (the same Breslow partial likelihood).

    nice -n 10 python experiments/bench_cox_fit.py [--sizes 2000 20000] [--repeats 3]
    nice -n 10 python experiments/bench_cox_fit.py --stacked [--sizes 100000] [--repeats 3]

Writes experiments/results/bench_cox_fit.csv (size, solver, seconds per fit, max |beta diff|
against scikit-survival). Data: a simulated trial's day-60 landmark set, default features,
preprocessed as the linear models do.

``--stacked``: rows of the super-landmark data set (days 60-365, default features; rows drawn
with replacement from 4,000 simulated patients' stacked rows up to each size), one relapse Cox
fit with the landmark as L and L² under one baseline (before) against the stratified fit and
the stratified fit with feature × landmark interactions (`relapse_ml.landmark_strata`), and
the whole `CauseSpecificCox` model (both causes, baselines; the patient ids passed, as `train`
does) in each setting; wall and CPU
seconds, the load average. Writes experiments/results/bench_cox_fit_stacked.csv (rows of
other fits kept: run it once more with ``PYTHONPATH`` at a checkout from before the strata to
add that code's fit).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "results" / "bench_cox_fit.csv"


def _solvers(Z, t, status, penalizer) -> dict:
    from lifelines import CoxPHFitter

    from relapse_ml.models.cox import fit_cox_coefficients
    from relapse_ml.models.partial_likelihood import fit_subdistribution_hazard

    def lifelines_fit():
        df = pd.DataFrame(Z, columns=[f"z{j}" for j in range(Z.shape[1])])
        df["t"], df["s"] = t, status.astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return CoxPHFitter(penalizer=penalizer).fit(df, "t", "s").params_.to_numpy()

    return {
        "scikit-survival": lambda: fit_cox_coefficients(Z, t, status, penalizer=penalizer),
        "lifelines": lifelines_fit,
        "newton (fine_gray, no competing)": lambda: fit_subdistribution_hazard(
            Z, t, status.astype(int), 1, penalizer=penalizer)[0],
    }


def _stacked_fits(X, t, e, penalizer, groups) -> dict:
    from relapse_ml.landmark import LANDMARK_COLUMNS
    from relapse_ml.models import CauseSpecificCox
    from relapse_ml.models.partial_likelihood import fit_subdistribution_hazard
    from relapse_ml.models.preprocess import LinearPreprocessor

    if "landmark_strata" not in CauseSpecificCox().get_params():  # a checkout before strata
        return {"CauseSpecificCox: one baseline (code before strata)": lambda: CauseSpecificCox(
            penalizer=penalizer).fit(X, t, e)}
    from relapse_ml.landmark_strata import interaction_rms, with_interactions

    day = X["landmark_day"].to_numpy(float)
    Z_shared = LinearPreprocessor().fit(X).transform(X)
    inner = X.drop(columns=list(LANDMARK_COLUMNS))
    Z = LinearPreprocessor().fit(inner).transform(inner)
    Z_int = with_interactions(Z, day, np.arange(Z.shape[1]), interaction_rms(day))
    status = (e == 1).astype(int)

    def newton(Zm, strata=None):
        return lambda: fit_subdistribution_hazard(Zm, t, status, 1, penalizer=penalizer,
                                                  max_iter=200, strata=strata)

    def model(**kw):
        return lambda: CauseSpecificCox(penalizer=penalizer, **kw).fit(X, t, e, groups=groups)

    return {
        "relapse fit: one baseline, L and L² (before)": newton(Z_shared),
        "relapse fit: stratified by landmark": newton(Z, day),
        "relapse fit: stratified + every feature × landmark": newton(Z_int, day),
        "CauseSpecificCox: one baseline, L and L² (before)": model(landmark_strata=False,
                                                                   landmark_interactions=False),
        "CauseSpecificCox: strata + every feature × landmark": model(landmark_interactions=True),
        "CauseSpecificCox: strata + varying features × landmark (after, default)": model(),
    }


def stacked(sizes: list[int], repeats: int, penalizer: float) -> None:
    import os

    from relapse_ml.landmark import DEFAULT_LANDMARKS, super_landmark_dataset
    from relapse_ml.simulate import simulate_trial

    base = super_landmark_dataset(simulate_trial(4000, seed=11, truth=False).to_cohort(),
                                  DEFAULT_LANDMARKS, 730)
    rows = []
    for n in sizes:
        idx = np.random.default_rng(n).choice(len(base), n, replace=n > len(base))
        X, t, e = base.X.iloc[idx].reset_index(drop=True), base.time[idx], base.event[idx]
        solvers = _stacked_fits(X, t, e, penalizer, base.patient_id[idx])
        for name, fit in solvers.items():
            wall, cpu = [], []
            for _ in range(repeats):
                w0, c0 = time.perf_counter(), time.process_time()
                fit()
                wall.append(time.perf_counter() - w0)
                cpu.append(time.process_time() - c0)
            rows.append({"rows": n, "fit": name, "median_wall_s": np.median(wall),
                         "median_cpu_s": np.median(cpu), "min_cpu_s": min(cpu),
                         "max_cpu_s": max(cpu), "repeats": repeats,
                         "load_avg_1min": round(os.getloadavg()[0], 2)})
            print(rows[-1], flush=True)
    out = OUT.with_name("bench_cox_fit_stacked.csv")
    if out.exists():  # rows of another checkout (--stacked run with its PYTHONPATH) are kept
        old = pd.read_csv(out)
        rows = old[~old["fit"].isin({r["fit"] for r in rows})].to_dict("records") + rows
    pd.DataFrame(rows).to_csv(out, index=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--penalizer", type=float, default=0.1)
    ap.add_argument("--stacked", action="store_true", help="super-landmark rows (see above)")
    args = ap.parse_args()
    if args.stacked:
        stacked(args.sizes or [100_000], args.repeats, args.penalizer)
        return
    args.sizes = args.sizes or [2000, 20000]
    from relapse_ml.landmark import landmark_dataset
    from relapse_ml.models.preprocess import LinearPreprocessor
    from relapse_ml.simulate import simulate_trial

    base = landmark_dataset(simulate_trial(2000, seed=11).to_cohort(), 60, 730)
    rows = []
    for n in args.sizes:
        idx = np.random.default_rng(n).choice(len(base), n, replace=n > len(base))
        X, t, e = base.X.iloc[idx].reset_index(drop=True), base.time[idx], base.event[idx]
        Z = LinearPreprocessor().fit(X).transform(X)
        status = e == 1

        solvers = _solvers(Z, t, status, args.penalizer)
        ref = None
        for name, fit in solvers.items():
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                beta = fit()
                times.append(time.perf_counter() - t0)
            ref = beta if ref is None else ref
            rows.append({"n": n, "solver": name, "median_s": np.median(times), "min_s": min(times),
                         "max_s": max(times), "max_abs_beta_diff": float(np.abs(beta - ref).max())})
            print(rows[-1], flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(OUT, index=False)


if __name__ == "__main__":
    main()
