"""How accurate is the individual benefit a trial would report? (evaluation only)

The reported estimate comes from the benefit package's public API,
`relapse_ml.benefit.individual.reported_benefit` (the learner chosen — or the trial's
average — by the cross-fitted yardstick, refitted, with bootstrap intervals that re-run
the choice). It is computed without the truth; the truth is read afterwards, here, to
score it (`benefit.individual.reported_truth_rows`): RMSE of the reported estimate ÷ RMSE
of the trial's Aalen–Johansen average given to everyone, coverage of the intervals,
Spearman with the truth, and which estimate was reported. ``read_truth`` takes the truth
in memory (a simulated trial) or from a cohort directory written by ``relapse-ml simulate``
(``truth.parquet`` or ``truth.csv``, one-piece or chunked).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

# the careful cause-specific Cox S-learner of experiments/benefit_individual.py: arm x these
CAREFUL_COX_INTERACTIONS = ("mrd_mfc_latest", "age", "cytogenetic_risk_adverse", "agvhd_max_grade")
TRUTH_FILES = ("truth.parquet", "truth.csv")


def read_truth(source, patient_id, landmark_day=None, horizon_days=None) -> pd.DataFrame | None:
    """The true benefit of each patient of ``patient_id``, in that order (None when a
    patient or a column is missing). ``source``: a truth table, or a cohort directory with
    ``truth.parquet`` or ``truth.csv``; for a directory, its ``meta.json`` must have been
    simulated at ``landmark_day`` / ``horizon_days`` (when given), else None."""
    from relapse_ml.benefit.data import align_truth

    if isinstance(source, pd.DataFrame):
        return align_truth(source, patient_id)
    directory = Path(source)
    found = [directory / f for f in TRUTH_FILES if (directory / f).exists()]
    if not found:
        return None
    meta_path = directory / "meta.json"
    if meta_path.exists() and (landmark_day is not None or horizon_days is not None):
        meta = json.loads(meta_path.read_text())
        for key, want in (("landmark_day", landmark_day), ("horizon_days", horizon_days)):
            if want is not None and float(meta.get(key, -1)) != float(want):
                return None
    path = found[0]
    if path.suffix == ".parquet":
        truth = pd.read_parquet(path)
    else:
        truth = pd.read_csv(path, dtype={"patient_id": str})
    return align_truth(truth, patient_id)


def careful_cox(columns) -> object:
    """The careful cross-fitted cause-specific Cox S-learner (penalised, arm x MRD, age,
    adverse cytogenetics, aGVHD)."""
    from relapse_ml.benefit.config import LearnerSpec

    return LearnerSpec(
        kind="s",
        label="cox_careful",
        model={"name": "cox_cs", "params": {"penalizer": 0.1}},
        interactions=[c for c in CAREFUL_COX_INTERACTIONS if c in columns],
    )


def accuracy_rows(data, rcfg, truth, careful: bool = False) -> list[dict]:
    """Rows ``benefit:{relapse,rfs}:{rmse_ratio, rmse, rmse_average, coverage, spearman,
    bias, individual}`` (and ``cox_spearman`` with ``careful``), each value in ``estimate``
    (no test: ``reject`` empty). ``individual`` is 1 when the reported estimate is not the
    trial's average (its ``note``: the chosen learner and the reason's kind).
    ``rcfg``: the benefit config of the reported estimate (learners, ``intervals.n_boot``)."""
    from relapse_ml.benefit.individual import reported_benefit, reported_truth_rows

    frame, rep, info = reported_benefit(data, rcfg)  # modelling: no truth in here
    if truth is None:
        return [{"analysis": "benefit:relapse:rmse_ratio", "note": "truth missing"}]
    outcomes = ("relapse", "rfs")
    est = {o: frame[f"benefit_{o}"].to_numpy(float) for o in outcomes}
    lo = {o: frame[f"benefit_{o}_low"].to_numpy(float) for o in outcomes}
    hi = {o: frame[f"benefit_{o}_high"].to_numpy(float) for o in outcomes}
    got = {(r["learner"], r["outcome"], r["metric"]): r["value"]
           for r in reported_truth_rows(est, lo, hi, data, truth)}
    has_intervals = info.get("n_ok", 0) >= 2
    cox = _careful_cox_spearman(data, rcfg, truth) if careful else {}
    rows = []
    for o in outcomes:
        values = {
            "rmse_ratio": got[("reported", o, "truth_rmse_ratio")],
            "rmse": got[("reported", o, "truth_rmse")],
            "rmse_average": got[("trial_average", o, "truth_rmse")],
            "coverage": got[("reported", o, "truth_coverage")] if has_intervals else np.nan,
            "spearman": got[("reported", o, "truth_spearman")],
            "bias": got[("reported", o, "truth_bias")],
        }
        for name, v in values.items():
            rows.append({"analysis": f"benefit:{o}:{name}", "statistic": v, "estimate": v})
        ch = rep.choices[o]
        ind = float(ch.kind != "constant")
        rows.append({"analysis": f"benefit:{o}:individual", "statistic": ind, "estimate": ind,
                     "note": f"{ch.learner} ({ch.kind}); bootstrap {info.get('n_ok', 0)}/"
                             f"{info.get('n_boot', 0)}"})
        if careful:
            rows.append({"analysis": f"benefit:{o}:cox_spearman", "statistic": cox[o],
                         "estimate": cox[o]})
    return rows


def _careful_cox_spearman(data, rcfg, truth) -> dict[str, float]:
    from relapse_ml.benefit.data import TRUTH_COLUMNS
    from relapse_ml.benefit.estimation import cross_fit_learners
    from relapse_ml.benefit.heterogeneity import truth_agreement

    spec = careful_cox(list(data.X.columns))
    est, _, _ = cross_fit_learners(rcfg, data, lambda *a: None, specs=[spec])
    return {o: truth_agreement(est[spec.label].benefit[o], truth[col])["spearman"]
            for o, col in TRUTH_COLUMNS.items()}
