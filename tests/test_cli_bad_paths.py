"""Bad input found by a new user's walk through the CLI (stop 30): each is a one-line error,
exit 2, before any work and with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from relapse_ml.errors import DataValidationError, RelapseMLError
from relapse_ml.utils import (
    atomic_write_text,
    check_output_dir,
    check_output_file,
    check_writable_dir,
)
from tests._helpers_cli import run_relapse_ml
from tests._helpers_data import tiny_tables, write_tables


def _one_error_line(res, *pieces):
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr
    for piece in pieces:
        assert piece in errors[0], (piece, errors[0])


@pytest.mark.parametrize("marker", ["wt1", "mrd_mfc"])  # without and with an upper limit
def test_infinite_values_are_refused_with_file_row_and_column(tmp_path, marker):
    from relapse_ml.data import read_cohort

    tables = tiny_tables()
    m = tables["measurements"]
    row = int(np.flatnonzero(m["marker"].to_numpy() == marker)[0])
    m["value"] = m["value"].astype(object)
    m.loc[m.index[row], "value"] = "inf"  # parses as a float; no marker range excluded it
    d = write_tables(tables, tmp_path / "c")
    with pytest.raises(DataValidationError) as err:
        read_cohort(d)
    (v,) = err.value.violations
    assert v.column == "value" and v.row == row + 2 and str(v.table).endswith("measurements.csv")
    _one_error_line(run_relapse_ml("validate", d), "measurements.csv", f"row {row + 2}",
                    "column 'value'", "inf")


def test_validate_json_reports_the_violations_on_stdout(tmp_path):
    tables = tiny_tables()
    tables["patients"].loc[1, "age"] = 150
    d = write_tables(tables, tmp_path / "c")
    res = run_relapse_ml("validate", d, "--json")
    assert res.returncode == 2
    doc = json.loads(res.stdout)
    assert doc["valid"] is False
    (v,) = doc["violations"]
    assert v["file"].endswith("patients.csv") and v["row"] == 3 and v["column"] == "age"
    assert "0–100" in v["allowed"] and "Traceback" not in res.stderr
    res = run_relapse_ml("validate", tmp_path / "nope", "--json")
    assert res.returncode == 2 and json.loads(res.stdout)["valid"] is False


def test_cohort_json_misspelt_key_is_refused_free_metadata_is_kept(tmp_path):
    from relapse_ml.data import read_cohort

    d = write_tables(tiny_tables(), tmp_path / "c")
    (d / "cohort.json").write_text(json.dumps({"name": "x", "randomised": False}))
    _one_error_line(run_relapse_ml("validate", d), str(d / "cohort.json"), "'randomised'",
                    "did you mean 'randomized'")
    (d / "cohort.json").write_text(json.dumps({"name": "x", "randomization": "1:1"}))
    _one_error_line(run_relapse_ml("validate", d), "'randomization'", "did you mean 'randomized'")
    free = {"name": "x", "description": "free text", "sources": ["a"], "known_columns": [],
            "imputed_event_fields": {}, "selection": {}, "randomized": False}
    (d / "cohort.json").write_text(json.dumps(free))  # free metadata, as the importers write
    assert read_cohort(d).randomized is False
    (d / "cohort.json").write_text('{"name": "x",')
    _one_error_line(run_relapse_ml("validate", d), str(d / "cohort.json"), "not valid JSON")


def test_output_path_helpers(tmp_path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("keep")
    with pytest.raises(RelapseMLError, match="is a directory"):
        check_output_file(tmp_path)
    with pytest.raises(RelapseMLError, match="is a file, not a directory"):
        check_output_file(a_file / "x.csv")
    with pytest.raises(RelapseMLError, match=r"allowed file types: \.csv, \.parquet"):
        check_output_file(tmp_path / "x.xlsx", (".csv", ".parquet"))
    assert check_output_file(tmp_path / "new" / "x.CSV", (".csv",)).name == "x.CSV"
    with pytest.raises(RelapseMLError, match="is a file, not a directory"):
        check_writable_dir(a_file)
    with pytest.raises(RelapseMLError, match="is a file, not a directory"):
        check_output_dir(a_file, overwrite=True)  # --overwrite replaces a directory, never a file
    assert check_writable_dir(tmp_path).is_dir()
    with pytest.raises(RelapseMLError, match="is a directory"):
        atomic_write_text(tmp_path, "x")
    assert a_file.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # no temporary file left


def test_commands_refuse_bad_output_paths_before_any_work(tmp_path):
    d = write_tables(tiny_tables(), tmp_path / "c")
    a_file = tmp_path / "f.txt"
    a_file.write_text("keep")
    outdir = tmp_path / "existing"
    outdir.mkdir()
    _one_error_line(run_relapse_ml("eligibility", d, "--out", outdir), "is a directory")
    _one_error_line(run_relapse_ml("simulate", "--n", "10", "--out", a_file), "is a file")
    _one_error_line(
        run_relapse_ml("benefit", "--no-track", "--data", d, "--save-patient-estimates",
                       tmp_path / "pe.xlsx", cwd=tmp_path),
        "allowed file types: .csv, .parquet")
    _one_error_line(run_relapse_ml("benefit", "--no-track", "--data", d, "--out", a_file,
                                   cwd=tmp_path), "is a file")
    _one_error_line(run_relapse_ml("subgroups", "--no-track", "--data", d, "--out", a_file,
                                   cwd=tmp_path), "is a file")
    _one_error_line(run_relapse_ml("export", "--out", a_file, "--overwrite", cwd=tmp_path),
                    "is a file")
    patient = tmp_path / "p.json"
    patient.write_text("{}")
    _one_error_line(run_relapse_ml("score", "--patient", patient, "--out", tmp_path / "s.csv",
                                   cwd=tmp_path), "--out is for --cohort")
    _one_error_line(run_relapse_ml("score", "--patient", patient, "--html", outdir,
                                   cwd=tmp_path), "is a directory")
    assert a_file.read_text() == "keep" and not any(outdir.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "existing", "f.txt", "p.json"]


def test_runs_lists_without_creating_a_store_and_refuses_bad_options(tmp_path):
    res = run_relapse_ml("runs", cwd=tmp_path)
    assert res.returncode == 0 and "no runs" in res.stdout
    assert not (tmp_path / "mlruns.db").exists()
    res = run_relapse_ml("runs", "--json", tracking_uri=f"sqlite:///{tmp_path / 'no' / 'x.db'}")
    assert res.returncode == 0 and json.loads(res.stdout)["runs"] == []
    assert not (tmp_path / "no").exists()
    _one_error_line(run_relapse_ml("runs", "--limit", "0", cwd=tmp_path), "--limit",
                    "(see: relapse-ml runs --help)")  # a usage error is one line too
    _one_error_line(run_relapse_ml("runs", "--tracking-uri", "bogus://x", cwd=tmp_path),
                    "tracking store bogus://x cannot be read")
    not_a_db = tmp_path / "notadb.db"
    not_a_db.write_text("not a database")
    _one_error_line(run_relapse_ml("runs", "--tracking-uri", f"sqlite:///{not_a_db}",
                                   cwd=tmp_path), f"sqlite:///{not_a_db} cannot be read")
    import sqlite3

    empty, other = tmp_path / "empty.db", tmp_path / "other.db"
    empty.touch()
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    for db in (empty, other):  # MLflow would create its tables in them: refused, unchanged
        before = db.read_bytes()
        _one_error_line(run_relapse_ml("runs", "--tracking-uri", f"sqlite:///{db}",
                                       cwd=tmp_path), "not an MLflow tracking database")
        assert db.read_bytes() == before
    res = run_relapse_ml("runs", "--tracking-uri", f"file:{tmp_path / 'fs' / 'mlruns'}",
                         cwd=tmp_path)
    assert res.returncode == 0 and not (tmp_path / "fs").exists()


def _fake_benefit_run(n=6, k=3):
    from types import SimpleNamespace

    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, k)), columns=[f"x{j}" for j in range(k)])
    ids = np.array([f"P{i}" for i in range(n)])
    sur = SimpleNamespace(values=rng.normal(size=(n, k)), base=0.05,
                          fitted=rng.normal(size=n), columns=list(X.columns))
    result = SimpleNamespace(patient_estimates=pd.DataFrame({"patient_id": ids,
                                                             "benefit_relapse": 0.05}))
    data = SimpleNamespace(n=n, X=X, patient_id=ids, tau=729.5)
    cfg = SimpleNamespace(explain=SimpleNamespace(n_patients=2))
    return result, {"relapse": sur}, cfg, data


def test_patient_estimates_are_written_all_or_nothing(tmp_path, monkeypatch):
    from relapse_ml.benefit import explain as E
    from relapse_ml.benefit.outputs import save_patients

    result, surrogates, cfg, data = _fake_benefit_run()
    calls = []

    def failing_waterfall(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user stops the run while the figures are drawn
        args[-1].write_bytes(b"png")

    monkeypatch.setattr(E, "waterfall", failing_waterfall)
    with pytest.raises(KeyboardInterrupt):
        save_patients(result, tmp_path / "pe.csv", surrogates, cfg, data)
    assert list(tmp_path.iterdir()) == []  # neither the table, nor explanations, nor figures

    monkeypatch.setattr(E, "waterfall", lambda *a: a[-1].write_bytes(b"png"))
    saved = save_patients(result, tmp_path / "pe.csv", surrogates, cfg, data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pe.csv", "pe_explanations.csv",
                                                          "pe_waterfalls"]
    assert saved == {"patient_estimates": str(tmp_path / "pe.csv"),
                     "explanations": str(tmp_path / "pe_explanations.csv"),
                     "waterfalls": str(tmp_path / "pe_waterfalls")}
    assert len(list((tmp_path / "pe_waterfalls").iterdir())) == 2
    # a rerun replaces the last run's figures instead of mixing with them
    (tmp_path / "pe_waterfalls" / "stale.png").write_bytes(b"old")
    save_patients(result, tmp_path / "pe.csv", surrogates, cfg, data)
    assert "stale.png" not in {p.name for p in (tmp_path / "pe_waterfalls").iterdir()}


def test_patient_estimate_siblings_are_never_deleted_or_followed(tmp_path):
    from relapse_ml.benefit.outputs import save_patients

    result, surrogates, cfg, data = _fake_benefit_run()
    (tmp_path / "pe_explanations.csv").mkdir()
    (tmp_path / "pe_explanations.csv" / "user.txt").write_text("keep")
    with pytest.raises(RelapseMLError, match="is a directory"):
        save_patients(result, tmp_path / "pe.csv", surrogates, cfg, data)
    assert (tmp_path / "pe_explanations.csv" / "user.txt").read_text() == "keep"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "pe2_waterfalls").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(RelapseMLError, match="not a directory of figures"):
        save_patients(result, tmp_path / "pe2.csv", surrogates, cfg, data)
    assert not (tmp_path / "pe2.csv").exists() and elsewhere.is_dir()
    # the CLI refuses the same before any work
    _one_error_line(run_relapse_ml("benefit", "--no-track", "--data", tmp_path / "none",
                                   "--save-patient-estimates", tmp_path / "pe.csv",
                                   cwd=tmp_path), "pe_explanations.csv: is a directory")
