"""Shared by the benefit-export tests: the small benefit config, the trial, bundle and
exported benefit run they work on (built once per test process, however many modules ask),
and a rewriter of an export."""

from __future__ import annotations

import json
import warnings

from relapse_ml.benefit.config import BenefitConfig
from relapse_ml.benefit.data import benefit_data
from relapse_ml.benefit.export import export_benefit
from relapse_ml.benefit.individual import reported_step
from relapse_ml.benefit.learners import make_folds
from relapse_ml.data import read_cohort
from relapse_ml.scoring.benefit_model import FORMAT_VERSION
from relapse_ml.scoring.export import export_predictor
from relapse_ml.scoring.patient import record_from_cohort
from tests._helpers_scoring import fit_predictor, simulated_trial_dir

SMALL = {
    "learners": [
        {"label": "constant", "kind": "constant"},
        {"label": "risk_path", "kind": "risk"},
        {"label": "s_fg", "kind": "s", "interactions": "key"},
        {"label": "r_ridge", "kind": "r"},
    ],
    "primary": "s_fg",
    "crossfit": {"n_folds": 3},
    "intervals": {"n_boot": 4, "n_folds": 3},
}

# what export_setup and export_run built: both modules' fixtures share one copy (read only;
# the tests write only under new names in its root), so neither is built twice
_BUILT: dict[str, dict] = {}


def export_setup(tmp_path_factory) -> dict:
    """A 400-patient trial, its benefit data and folds, a Fine–Gray bundle, a patient file."""
    if "setup" in _BUILT:
        return _BUILT["setup"]
    root = tmp_path_factory.mktemp("bexport")
    trial = simulated_trial_dir(root, n=400, seed=5)
    cohort = read_cohort(trial)
    cfg = BenefitConfig.model_validate(SMALL)
    data = benefit_data(cohort, cfg)
    folds = make_folds(data.arm, data.event, cfg.crossfit.n_folds, cfg.crossfit.seed)
    predictor, _ = fit_predictor(cohort, "fine_gray")
    bundle, _ = export_predictor(predictor, root / "bundle", data=trial, progress=None)
    patient = root / "patient.json"
    patient.write_text(json.dumps(record_from_cohort(cohort, "SIM00001", 60)))
    _BUILT["setup"] = {
        "root": root,
        "trial": trial,
        "cohort": cohort,
        "cfg": cfg,
        "data": data,
        "folds": folds,
        "bundle": bundle,
        "patient": patient,
    }
    return _BUILT["setup"]


def export_run(setup: dict) -> dict:
    """The reported step of a benefit run, with its bootstrap replicates, exported."""
    if "run" in _BUILT:
        return _BUILT["run"]
    cfg, data, folds = setup["cfg"], setup["data"], setup["folds"]
    keep: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep, est, lo, hi, info = reported_step(cfg, data, folds, {}, None, lambda *a: None, keep)
        path = export_benefit(
            setup["root"] / "export",
            cfg,
            data,
            rep,
            keep,
            est,
            lo,
            hi,
            info={"cohort": "test", "patients": data.n},
            interval_info=info,
        )
    _BUILT["run"] = {
        "rep": rep, "est": est, "lo": lo, "hi": hi, "info": info, "keep": keep, "path": path
    }
    return _BUILT["run"]


def _rewritten(src, dst, edit_meta, drop=(), version=None):
    """A copy of the export at ``src`` with benefit.json edited, files dropped, re-manifested."""
    from relapse_ml.scoring.benefit_model import FORMAT
    from relapse_ml.scoring.bundle import MANIFEST, write_bundle

    files = {str(f.relative_to(src)): f.read_bytes() for f in src.rglob("*") if f.is_file()}
    files.pop(MANIFEST)
    for name in drop:
        files.pop(name)
    meta = json.loads(files["benefit.json"])
    edit_meta(meta)
    files["benefit.json"] = json.dumps(meta).encode()
    return write_bundle(files, dst, fmt=FORMAT, version=version or FORMAT_VERSION)
