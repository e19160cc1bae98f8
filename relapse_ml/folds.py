"""Identical splits for comparisons: a fold file in (`train --folds`), out-of-fold predictions
out (`train --save-oof`).

Fold file: CSV with columns ``patient_id, fold`` and optionally ``repeat`` (one row per
patient and repeat). Every patient at risk at the landmark must have a fold in every repeat;
patients the file lists but who are not at risk are ignored (other tools may keep them).

Out-of-fold file: CSV ``patient_id, repeat, fold, model, final, relapse_cif_<H>d,
nrm_cif_<H>d`` — one row per patient, repeat and model; ``final`` is 1 for the model the run
picks; the incidences are read at H days after the landmark (H = the horizon). A
super-landmark run adds ``landmark_day`` (a patient has a row per landmark).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.errors import RelapseMLError


class FoldsError(RelapseMLError):
    """A fold file that cannot be used, named with its row or patient."""


def read_folds(path: str | Path, patient_id: np.ndarray) -> tuple[np.ndarray, list]:
    """Fold labels ``(n_repeats, n_rows)`` for the rows' ``patient_id`` and the repeat values."""
    path = Path(path)
    if not path.is_file():
        raise FoldsError(f"{path}: fold file not found")
    try:
        df = pd.read_csv(path, dtype={"patient_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise FoldsError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("patient_id", "fold") if c not in df.columns]
    if missing:
        raise FoldsError(f"{path}: missing column(s) {', '.join(missing)}; a fold file has columns "
                         "patient_id, fold and optionally repeat")
    extra = sorted(set(df.columns) - {"patient_id", "fold", "repeat"})
    if extra:
        raise FoldsError(f"{path}: unknown column(s) {', '.join(extra)}; allowed: patient_id, fold, repeat")
    if "repeat" not in df.columns:
        df["repeat"] = 0
    for col in ("fold", "repeat"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise FoldsError(f"{path}: row {row + 2}, column {col}: {df[col].iloc[row]!r} is not an "
                             "integer")
        df[col] = values.astype(int)
    df["patient_id"] = df["patient_id"].astype(str).str.strip()
    dup = df.duplicated(["patient_id", "repeat"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise FoldsError(f"{path}: row {row + 2}: patient {df['patient_id'].iloc[row]} appears twice "
                         f"in repeat {df['repeat'].iloc[row]}")
    repeats = sorted(df["repeat"].unique())
    labels = np.empty((len(repeats), len(patient_id)), dtype=int)
    ids = np.asarray(patient_id).astype(str)
    for i, r in enumerate(repeats):
        fold_of = df.loc[df["repeat"] == r].set_index("patient_id")["fold"]
        got = fold_of.reindex(ids)
        if got.isna().any():
            absent = list(dict.fromkeys(ids[got.isna().to_numpy()]))
            more = f" and {len(absent) - 1} more" if len(absent) > 1 else ""
            raise FoldsError(f"{path}: patient {absent[0]}{more} at risk at the landmark has no fold"
                             f"{f' in repeat {r}' if len(repeats) > 1 else ''}; give every "
                             "at-risk patient a fold")
        labels[i] = got.to_numpy(dtype=int)
        if np.unique(labels[i]).size < 2:
            raise FoldsError(f"{path}: repeat {r} has a single fold among the at-risk patients; "
                             "cross-validation needs at least 2")
    return labels, repeats


def check_writable(path: str | Path) -> Path:
    """Fail before any training when the out-of-fold file cannot be written there."""
    path = Path(path)
    if path.is_dir():
        raise FoldsError(f"{path}: is a directory; give a file name for --save-oof")
    if not path.parent.exists():
        raise FoldsError(f"{path.parent}: directory not found (for --save-oof)")
    return path


def oof_table(cvs: dict, final: str, patient_id: np.ndarray, horizon: float,
              repeats: list | None = None, landmark_day: np.ndarray | None = None) -> pd.DataFrame:
    """The out-of-fold predictions of every model (``cvs``: label → CVResult with
    ``oof_incidence`` at ``[horizon]``) as one long table."""
    h = f"{horizon:g}"
    parts = []
    for label, cv in cvs.items():
        inc = cv.oof_incidence
        n_rep = inc.shape[0]
        for r in range(n_rep):
            part = pd.DataFrame({
                "patient_id": np.asarray(patient_id).astype(str),
                "repeat": (repeats[r] if repeats else r),
                "fold": cv.test_fold[r],
                "model": label,
                "final": int(label == final),
                f"relapse_cif_{h}d": inc[r, :, 1, 0],
                f"nrm_cif_{h}d": inc[r, :, 2, 0],
            })
            if landmark_day is not None:
                part.insert(1, "landmark_day", landmark_day)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


def write_oof(path: str | Path, table: pd.DataFrame) -> Path:
    """Write the table atomically (never half-written)."""
    from relapse_ml.utils import atomic_write_text

    return atomic_write_text(path, table.to_csv(index=False, float_format="%.6g"))
