"""Time one cause-specific Cox coefficient fit: lifelines vs scikit-survival vs the Fine–Gray
Newton solver run without competing events (the same Breslow partial likelihood).

    nice -n 10 python experiments/bench_cox_fit.py [--sizes 2000 20000] [--repeats 3]

Writes experiments/results/bench_cox_fit.csv (size, solver, seconds per fit, max |beta diff|
against scikit-survival). Data: a simulated trial's day-60 landmark set, default features,
preprocessed as the linear models do.
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
    from relapse_ml.models.fine_gray import fit_subdistribution_hazard

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--penalizer", type=float, default=0.1)
    args = ap.parse_args()
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
