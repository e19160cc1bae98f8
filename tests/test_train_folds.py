"""`train --folds FILE` (identical splits for comparisons) and `--save-oof FILE`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from relapse_ml.config import parse_config
from relapse_ml.data import read_cohort
from relapse_ml.datasets import import_dataset
from relapse_ml.folds import FoldsError, read_folds
from relapse_ml.landmark import landmark_dataset
from relapse_ml.models import make_model
from tests._helpers_cli import run_relapse_ml

FAST = {
    "name": "folds",
    "landmark": {"super_landmark": False},  # day 60 only (the default trains at every visit)
    "models": [{"name": "aalen_johansen"}, {"name": "cox_cs", "params": {"penalizer": 0.5}}],
    "features": ["baseline", "extra", "gvhd"],
    "evaluation": {"n_splits": 3, "n_boot": 0},
    "tracking": {"min_ipa": -1.0},
}


@pytest.fixture(scope="module")
def bmt(tmp_path_factory):
    d = import_dataset("bmt", tmp_path_factory.mktemp("bmt") / "bmt")
    cohort = read_cohort(d)
    ld = landmark_dataset(cohort, 60, 730, features=FAST["features"])
    return d, cohort, ld


def _fold_file(path, ids, drop=None):
    rng = np.random.default_rng(0)
    rows = [{"patient_id": p, "repeat": r, "fold": int(f)}
            for r in (1, 2) for p, f in zip(ids, rng.integers(0, 4, len(ids)), strict=True)
            if p != drop]
    rows.append({"patient_id": "not-at-risk-99", "repeat": 1, "fold": 0})  # ignored
    pd.DataFrame(rows).to_csv(path, index=False)
    return pd.DataFrame(rows)


def test_given_folds_are_used_and_the_oof_file_has_the_documented_format(bmt, tmp_path):
    from relapse_ml.train import run_training

    _, cohort, ld = bmt
    folds = _fold_file(tmp_path / "folds.csv", ld.patient_id)
    out = tmp_path / "oof.csv"
    result = run_training(parse_config(FAST), cohort, track=False, progress=lambda *a: None,
                          folds=tmp_path / "folds.csv", save_oof=out)
    oof = pd.read_csv(out, dtype={"patient_id": str})
    assert list(oof.columns) == ["patient_id", "repeat", "fold", "model", "final",
                                 "relapse_cif_730d", "nrm_cif_730d"]
    assert len(oof) == len(ld) * 2 * 2  # patients × repeats × models
    assert set(oof["repeat"]) == {1, 2}
    assert (oof.loc[oof["final"] == 1, "model"] == result.final_model).all()
    assert oof.loc[oof["final"] == 0, "model"].ne(result.final_model).all()
    merged = oof.merge(folds, on=["patient_id", "repeat"], suffixes=("", "_file"))
    assert len(merged) == len(oof) and (merged["fold"] == merged["fold_file"]).all()
    assert ((oof["relapse_cif_730d"] + oof["nrm_cif_730d"]) <= 1 + 1e-9).all()

    # a held-out patient's prediction is exactly that of a model fitted on the other folds
    rep1 = folds[folds["repeat"] == 1].set_index("patient_id")["fold"].reindex(ld.patient_id)
    test = (rep1 == 2).to_numpy()
    model = make_model("cox_cs", penalizer=0.5).fit(ld.X[~test], ld.time[~test], ld.event[~test])
    expected = model.predict_cumulative_incidence(ld.X[test], [730.0])[:, :, 0]
    got = oof[(oof["repeat"] == 1) & (oof["model"] == "cox_cs")].set_index("patient_id")
    got = got.reindex(ld.patient_id[test])
    np.testing.assert_allclose(got["relapse_cif_730d"], expected[:, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["nrm_cif_730d"], expected[:, 2], rtol=1e-5, atol=1e-6)


def test_an_at_risk_patient_missing_from_the_fold_file_is_named(bmt, tmp_path):
    _, _, ld = bmt
    gone = ld.patient_id[5]
    _fold_file(tmp_path / "f.csv", ld.patient_id, drop=gone)
    with pytest.raises(FoldsError, match=f"patient {gone} at risk at the landmark has no fold"):
        read_folds(tmp_path / "f.csv", ld.patient_id)


@pytest.mark.parametrize(("content", "needle"), [
    ("patient_id,fold\nA,x\n", "row 2, column fold: 'x' is not an integer"),
    ("patient_id,split\nA,1\n", "missing column(s) fold"),
    ("patient_id,fold,color\nA,1,red\n", "unknown column(s) color"),
    ("patient_id,fold\nA,1\nA,2\n", "row 3: patient A appears twice"),
])
def test_bad_fold_files_are_one_line_errors(tmp_path, content, needle):
    (tmp_path / "f.csv").write_text(content)
    with pytest.raises(FoldsError) as info:
        read_folds(tmp_path / "f.csv", np.array(["A"]))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_cli_folds_error_exits_2_and_writes_nothing(bmt, tmp_path):
    d, _, ld = bmt
    _fold_file(tmp_path / "f.csv", ld.patient_id, drop=ld.patient_id[0])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(FAST))
    res = run_relapse_ml("train", "--config", cfg, "--data", d, "--no-track", "--folds",
                         tmp_path / "f.csv", "--save-oof", tmp_path / "oof.csv", cwd=tmp_path)
    assert res.returncode == 2
    lines = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and ld.patient_id[0] in lines[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "oof.csv").exists()
