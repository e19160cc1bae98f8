"""Registry of the public transplant data sets: name -> (loader, description); load and import."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from relapse_ml.datasets import bmt, ebmt4, myeloid
from relapse_ml.datasets._build import check_target, write_tables
from relapse_ml.errors import RelapseMLError

DATASETS: dict[str, tuple[Callable[[], dict], str]] = {
    bmt.NAME: (bmt.load_bmt, f"KMsurv::bmt — {bmt.DESCRIPTION}"),
    ebmt4.NAME: (ebmt4.load_ebmt4, f"mstate::ebmt4 — {ebmt4.DESCRIPTION}"),
    myeloid.NAME: (myeloid.load_myeloid, f"survival::myeloid — {myeloid.DESCRIPTION}"),
}


def _loader(name: str) -> Callable[[], dict]:
    if name not in DATASETS:
        raise RelapseMLError(f"unknown data set {name!r}; available: {', '.join(sorted(DATASETS))}")
    return DATASETS[name][0]


def load_dataset(name: str) -> dict:
    """The data set ``name`` in the data contract.

    Returns ``{"patients", "measurements", "events"}`` (DataFrames) and ``"cohort_json"``
    (the dict written as cohort.json: name, source, extra_columns, imputed_columns, ...).
    """
    return _loader(name)()


def import_dataset(name: str, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the data set ``name`` as a cohort directory (CSV tables + cohort.json), atomically.

    Refuses an existing non-empty ``out_dir`` unless ``overwrite``.
    """
    loader = _loader(name)
    out = check_target(out_dir, overwrite)  # refuse before loading, not after
    return write_tables(loader(), out, overwrite=overwrite)
