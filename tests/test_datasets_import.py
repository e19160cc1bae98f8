"""Public data sets as cohorts: declared columns, features and docs, `import_dataset` to a
directory (validates, refuses, atomic) and `relapse-ml datasets import`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from relapse_ml.data import contract as C
from relapse_ml.data.outcome import derive_outcome
from relapse_ml.datasets import DATASETS, import_dataset, load_dataset
from relapse_ml.errors import RelapseMLError
from tests._helpers_datasets import load_all

DOCS = Path(__file__).resolve().parents[1] / "docs" / "datasets.md"
CONTRACT_PATIENT_COLUMNS = (
    set(C.PATIENT_REQUIRED) | set(C.PATIENT_OPTIONAL) | set(C.SCREENING_COLUMNS)
)


@pytest.fixture(scope="module")
def loaded():
    return load_all()


@pytest.mark.parametrize("name", list(DATASETS))
def test_no_placeholder_or_constant_becomes_a_feature(loaded, name):
    """The training matrix of each public cohort: no column from an unrecorded contract field,
    no constant column."""
    from relapse_ml.config import load_config
    from relapse_ml.data.io import cohort_from_frames
    from relapse_ml.landmark import landmark_dataset

    d = loaded[name]
    cohort = cohort_from_frames(d["patients"], d["measurements"], d["events"], meta=d["cohort_json"])
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml")
    X = landmark_dataset(cohort, 60, 730, cfg.features).X
    unrecorded = [*d["cohort_json"]["unknown_columns"], *d["cohort_json"]["imputed_columns"]]
    assert not [c for c in X if any(c == u or c.startswith(f"{u}_") for u in unrecorded)]
    assert not [c for c in X if X[c].nunique(dropna=False) <= 1]
    if name in ("ebmt4", "bmt"):  # the recovery the peers use is a feature
        assert {"platelet_recovery_by_landmark", "platelet_recovery_day"} <= set(X.columns)
    if name == "ebmt4":
        assert {"extra_adverse_event_by_landmark", "extra_adverse_event_days_since"} <= set(X.columns)
    if name == "myeloid":
        assert "arm" in X and X["arm"].isin([0.0, 1.0]).all()


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_non_contract_column_is_declared_with_its_type(loaded, name):
    d = loaded[name]
    p, meta = d["patients"], d["cohort_json"]
    extras = meta["extra_columns"]
    assert set(p.columns) - CONTRACT_PATIENT_COLUMNS == set(extras)
    for col, kind in extras.items():
        assert kind in C.EXTRA_COLUMN_TYPES
        values = p[col].dropna()
        if kind == "number":
            assert pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(
                values
            ), col
        elif kind == "bool":
            assert pd.api.types.is_bool_dtype(values), col
        else:
            assert values.map(lambda v: isinstance(v, str)).all(), col
    assert set(meta["imputed_columns"]) <= {"age"}  # the one number the contract cannot leave empty
    assert all(reason for reason in meta["imputed_columns"].values())
    json.dumps(meta)  # cohort.json must be serialisable


@pytest.mark.parametrize("name", list(DATASETS))
def test_docs_describe_every_imputed_and_extra_column(loaded, name):
    text = DOCS.read_text()
    meta = loaded[name]["cohort_json"]
    assert f"`{name}`" in text
    for col in [*meta["imputed_columns"], *meta["extra_columns"], *meta.get("extra_events", {})]:
        assert f"`{col}`" in text, col


def test_unknown_name_lists_the_available_ones(tmp_path):
    with pytest.raises(RelapseMLError, match="bmt, ebmt4, myeloid"):
        load_dataset("nope")
    with pytest.raises(RelapseMLError, match="available"):
        import_dataset("nope", tmp_path / "x")


@pytest.mark.parametrize("name", list(DATASETS))
def test_import_writes_a_cohort_that_validates(tmp_path, loaded, name):
    out = import_dataset(name, tmp_path / name)
    assert sorted(os.listdir(out)) == [
        "cohort.json",
        "events.csv",
        "measurements.csv",
        "patients.csv",
    ]
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary directory left behind
    meta = json.loads((out / "cohort.json").read_text())
    assert meta["name"] == name and meta["source"] and meta["extra_columns"] and meta["unknown_columns"]
    assert pd.read_csv(out / "measurements.csv").empty
    io = pytest.importorskip("relapse_ml.data.io", reason="read_cohort (lead) not available yet")
    cohort = io.read_cohort(out)  # raises DataValidationError listing violations, if any
    assert cohort.n_patients == len(loaded[name]["patients"])
    assert cohort.extra_columns == meta["extra_columns"]
    assert cohort.extra_events == meta.get("extra_events", {})
    assert cohort.unknown_columns == meta["unknown_columns"]
    want = derive_outcome(
        loaded[name]["patients"], loaded[name]["measurements"], loaded[name]["events"]
    )
    pd.testing.assert_frame_equal(cohort.outcome.sort_index(), want.sort_index(), check_dtype=False)


def test_import_refuses_a_non_empty_directory_unless_overwrite(tmp_path):
    out = tmp_path / "cohort"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RelapseMLError, match="not empty"):
        import_dataset("bmt", out)
    assert sorted(os.listdir(out)) == ["keep.txt"]  # untouched
    import_dataset("bmt", out, overwrite=True)
    assert "keep.txt" not in os.listdir(out) and (out / "patients.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort"]
    empty = tmp_path / "empty"
    empty.mkdir()
    import_dataset("bmt", empty)  # an empty directory is fine
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(RelapseMLError, match="not a directory"):
        import_dataset("bmt", afile, overwrite=True)


def test_import_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    out = tmp_path / "cohort"
    real = pd.DataFrame.to_csv

    def failing(self, path, *a, **k):
        if str(path).endswith("events.csv"):
            raise OSError("disk full")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(OSError):
        import_dataset("bmt", out)
    assert list(tmp_path.iterdir()) == []  # neither a partial cohort nor a temporary directory
    # with overwrite, a failure keeps the previous content
    monkeypatch.setattr(pd.DataFrame, "to_csv", real)
    import_dataset("bmt", out)
    before = (out / "patients.csv").read_text()
    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)
    with pytest.raises(OSError):
        import_dataset("bmt", out, overwrite=True)
    assert (out / "patients.csv").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort"]


def test_cli_imports_myeloid_and_validates_it(tmp_path):
    from tests._helpers_cli import run_relapse_ml

    r = run_relapse_ml("datasets", "import", "myeloid", "--out", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert "myeloid" in r.stdout and "158 patients" in r.stdout
    assert "arm not randomized" in r.stdout and "not recorded" in r.stdout
    meta = json.loads((tmp_path / "m" / "cohort.json").read_text())
    assert meta["randomized"] is False and meta["contract_version"] == 2
    again = run_relapse_ml("datasets", "import", "myeloid", "--out", tmp_path / "m")
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr
