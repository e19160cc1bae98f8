"""The subgroups pipeline behind ``relapse-ml subgroups``: pre-specified subgroups (forest
plot + table) and the honest exploratory split, logged as one MLflow run."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig
from relapse_ml.benefit.data import BenefitData, benefit_data
from relapse_ml.benefit.learners import cross_fit, make_folds
from relapse_ml.benefit.outputs import _finite, _save, _tracking_start


@dataclass
class SubgroupResult:
    """What ``relapse-ml subgroups`` produced (aggregates per subgroup level)."""

    cohort: str
    n: int
    tau: float
    tables: dict  # outcome -> subgroup table
    overall: dict  # outcome -> overall row
    exploratory: dict | None
    run_id: str | None = None
    tracking_uri: str | None = None
    files: dict = field(default_factory=dict)

    def summary(self) -> dict:
        exp = None
        if self.exploratory is not None:
            exp = {k: v for k, v in self.exploratory.items() if k != "table"}
            exp["leaves"] = self.exploratory["table"].to_dict(orient="records")
        return {
            "cohort": self.cohort,
            "patients": self.n,
            "tau_days": self.tau,
            "overall": self.overall,
            "subgroups": {o: t.to_dict(orient="records") for o, t in self.tables.items()},
            "exploratory": exp,
            "run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "files": {k: str(v) for k, v in self.files.items()},
        }


def subgroup_analysis(cfg: BenefitConfig, cohort, data: BenefitData) -> tuple[dict, dict]:
    """Pre-specified subgroup tables and overall rows per outcome."""
    from relapse_ml.benefit.subgroups import configured_levels, overall_row, subgroup_table

    levels = configured_levels(cohort, data.patient_id, cfg)
    sg = cfg.subgroups
    tables = {
        o: subgroup_table(
            data.time, data.event, data.arm, levels, data.tau, o, sg.min_per_arm, sg.min_events
        )
        for o in OUTCOMES
    }
    overall = {o: overall_row(data.time, data.event, data.arm, data.tau, o) for o in OUTCOMES}
    return tables, overall


def exploratory_analysis(cfg: BenefitConfig, data: BenefitData, outcome: str = "relapse") -> dict:
    """Discovery on one half (the primary learner cross-fitted on that half alone), test on
    the other."""
    from relapse_ml.benefit.subgroups import exploratory_subgroups, split_halves

    ex = cfg.subgroups.exploratory
    discovery = split_halves(data.arm, data.event, ex.seed)
    spec = cfg.learner(cfg.primary_label)
    rows = np.flatnonzero(discovery)
    X = data.X.iloc[rows].reset_index(drop=True)
    folds = make_folds(data.arm[rows], data.event[rows], cfg.crossfit.n_folds, ex.seed)
    est = cross_fit(
        spec,
        X,
        data.time[rows],
        data.event[rows],
        data.arm[rows],
        folds,
        data.tau,
        cfg.treatment,
        cfg.crossfit.seed,
    )
    out = exploratory_subgroups(
        data.X,
        data.time,
        data.event,
        data.arm,
        data.tau,
        discovery,
        est.benefit[outcome],
        ex.max_depth,
        ex.min_leaf_fraction,
        outcome,
        ex.seed,
    )
    out["learner"] = spec.display
    return out


def run_subgroups(
    cfg: BenefitConfig,
    cohort,
    *,
    track: bool = True,
    progress=print,
    out_dir: str | Path | None = None,
) -> SubgroupResult:
    """Pre-specified subgroups (forest plot + table) and the honest exploratory split."""
    from relapse_ml.benefit.figures import forest_plot
    from relapse_ml.errors import ModelError

    data = benefit_data(cohort, cfg)
    progress(
        f"{cohort.name}: {data.n} randomized patients at risk at day "
        f"{cfg.landmark.landmark_day:g}; {len(cfg.subgroups.names)} pre-specified "
        f"subgroups, outcomes at {data.tau:g} days after the landmark"
    )
    tables, overall = subgroup_analysis(cfg, cohort, data)
    exploratory = None
    if cfg.subgroups.exploratory.enabled:
        try:
            exploratory = exploratory_analysis(cfg, data)
        except ModelError as err:
            progress(f"  exploratory split skipped: {err}")
    result = SubgroupResult(
        cohort=cohort.name,
        n=data.n,
        tau=data.tau,
        tables=tables,
        overall=overall,
        exploratory=exploratory,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir) if out_dir is not None else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for o in OUTCOMES:
            ax = forest_plot(tables[o], overall[o], tau=data.tau)
            files[f"forest_{o}"] = _save(ax, out / f"forest_{o}.png")
        files["table"] = out / "subgroups.csv"
        pd.concat(
            [pd.DataFrame([overall[o]]).assign(outcome=o) for o in OUTCOMES]
            + [tables[o] for o in OUTCOMES],
            ignore_index=True,
        ).to_csv(files["table"], index=False)
        if exploratory is not None:
            files["exploratory"] = out / "exploratory_subgroups.csv"
            exploratory["table"].to_csv(files["exploratory"], index=False)
        if track:
            mlflow, run, uri = _tracking_start(cfg, cohort, "subgroups", data.tau)
            with run:
                m = {}
                for o, t in tables.items():
                    for name, part in t.groupby("subgroup"):
                        first = part.iloc[0]
                        m[f"{o}.{name}.interaction_p"] = first["interaction_p"]
                        m[f"{o}.{name}.p_holm"] = first["p_holm"]
                        m[f"{o}.{name}.p_bh"] = first["p_bh"]
                    m[f"{o}.overall.hr"] = overall[o].get("hr")
                    m[f"{o}.overall.diff"] = overall[o].get("diff")
                if exploratory is not None and exploratory["candidate"] is not None:
                    m["exploratory.candidate_interaction_p"] = exploratory["candidate"][
                        "interaction_p"
                    ]
                mlflow.log_metrics(_finite(m))
                for key, path in files.items():
                    mlflow.log_artifact(
                        str(path), artifact_path="figures" if key.startswith("forest") else "tables"
                    )
                result.run_id, result.tracking_uri = run.info.run_id, uri
        result.files = files if out_dir is not None else {}
    return result
