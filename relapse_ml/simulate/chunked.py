"""Registry-scale cohorts: `simulate_cohort` simulates in fixed-size chunks, in parallel on a
Dask cluster or serially, and streams them to disk (CSV or Parquet).

Chunk c of a cohort with seed s is ``simulate_trial(size_c, seed=chunk_seed(s, c))``
with size_c = ``chunk_size`` (the last one smaller); chunk 0 uses s itself, so a cohort of
at most ``chunk_size`` patients is exactly ``simulate_trial(n, seed)``. The chunks are
fixed by (n, seed, chunk_size) alone, so the cohort is the same however many workers
compute them and in whatever order they finish (they are written in chunk order).
Patients are independent in the simulator (randomization is in blocks of 4, and
``chunk_size`` is a multiple of 4), so a chunked cohort follows the same model as one
simulated in one piece; its random numbers differ from a one-piece cohort of the same
size, which is why the chunk size is part of the cohort's identity (``meta.json``).
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.errors import RelapseMLError

CHUNK_SIZE = 50_000
TABLES = ("patients", "measurements", "events", "truth")
LANDMARK_TRUTH = "truth_at_landmarks"  # written too when `simulate_trial` made it (truth_landmarks)
_CHUNK_KEY = 20_001  # spawn key of the chunk seeds


def chunk_seed(seed: int, index: int) -> int:
    """The seed of chunk ``index`` (``seed`` itself for chunk 0)."""
    if index == 0:
        return int(seed)
    ss = np.random.SeedSequence(int(seed), spawn_key=(_CHUNK_KEY, int(index)))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def chunk_sizes(n: int, chunk_size: int = CHUNK_SIZE) -> list[int]:
    if chunk_size < 4 or chunk_size % 4:
        raise RelapseMLError(f"chunk_size must be a multiple of 4 (the randomization block), got {chunk_size}")
    full, rest = divmod(int(n), chunk_size)
    return [chunk_size] * full + ([rest] if rest else [])


def simulate_chunk(index: int, size: int, seed: int, offset: int, width: int, kwargs: dict) -> dict:
    """Chunk ``index``: its tables with patient ids numbered from ``offset + 1`` (``width``
    digits), and its meta. Runs on a worker."""
    from relapse_ml.simulate.trial import simulate_trial

    trial = simulate_trial(n=size, seed=chunk_seed(seed, index), **kwargs)
    old = trial.patients["patient_id"].to_numpy()
    new = np.array([f"SIM{offset + i + 1:0{width}d}" for i in range(len(old))], dtype=object)
    tables = {}
    for name in (*TABLES, LANDMARK_TRUTH):
        df = getattr(trial, name)
        if name == LANDMARK_TRUTH and df.empty:
            continue
        codes = pd.Categorical(df["patient_id"], categories=old).codes
        tables[name] = df.assign(patient_id=new[codes])
    return {"index": index, "tables": tables, "meta": trial.meta}


class _Writer:
    """Appends chunks to one file per table: Parquet row groups, or CSV with one header."""

    def __init__(self, directory: Path, fmt: str):
        self.dir, self.fmt = directory, fmt
        self.pq: dict = {}
        self.rows = dict.fromkeys(TABLES, 0)  # (+ truth_at_landmarks once a chunk has it)

    def add(self, tables: dict) -> None:
        for name, df in tables.items():
            if self.fmt == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                if name not in self.pq:
                    table = pa.Table.from_pandas(df, preserve_index=False)
                    self.pq[name] = pq.ParquetWriter(self.dir / f"{name}.parquet", table.schema)
                else:
                    table = pa.Table.from_pandas(
                        df, schema=self.pq[name].schema, preserve_index=False
                    )
                self.pq[name].write_table(table)
            else:
                path = self.dir / f"{name}.csv"
                df.to_csv(path, mode="a", header=self.rows.get(name, 0) == 0, index=False)
            self.rows[name] = self.rows.get(name, 0) + len(df)

    def close(self) -> None:
        for w in self.pq.values():
            w.close()


def _merge_meta(metas: list[dict], n: int, seed: int, chunk_size: int) -> dict:
    meta = dict(metas[0])
    flow: dict[str, int] = {}
    for m in metas:
        for k, v in m["screening_flow"].items():
            flow[k] = flow.get(k, 0) + int(v)
    meta.update(
        name=f"sim_{meta['scenario']}_seed{seed}_n{n}",
        seed=int(seed),
        n=int(n),
        n_screened=sum(int(m["n_screened"]) for m in metas),
        screening_flow=flow,
        chunks={"size": int(chunk_size), "count": len(metas),
                "seeds": [int(m["seed"]) for m in metas]},
    )
    return meta


def simulate_cohort(
    out: str | os.PathLike,
    n: int,
    seed: int = 0,
    fmt: str = "csv",
    chunk_size: int = CHUNK_SIZE,
    client=None,
    overwrite: bool = False,
    progress=None,
    **kwargs,
) -> dict:
    """Simulate ``n`` randomized patients chunk by chunk into the cohort directory ``out``.

    ``client``: a `distributed.Client` to compute chunks in parallel (None: serially here);
    at most two chunks per worker are in flight, so the memory of the writer stays
    bounded. ``kwargs`` go to `simulate_trial` (scenario, landmark_day, horizon_days,
    truth, truth_draws, effect, truth_landmarks: each chunk's truth at those landmarks is
    written to ``truth_at_landmarks``, exactly the one-piece tables of its chunk). Written to a temporary directory renamed at the end.
    Returns the cohort's meta.
    """
    from relapse_ml.utils import atomic_directory

    if fmt not in ("csv", "parquet"):
        raise RelapseMLError(f"format must be csv or parquet, got {fmt!r}")
    if kwargs.get("screen_failures"):
        raise RelapseMLError("screen failures are written only for one-piece cohorts (n <= chunk size)")
    sizes = chunk_sizes(n, chunk_size)
    width = max(5, len(str(int(n))))
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    args = [(i, s, seed, int(offsets[i]), width, kwargs) for i, s in enumerate(sizes)]
    metas = []
    with atomic_directory(out, overwrite) as tmp:
        writer = _Writer(Path(tmp), fmt)
        try:
            for rec in _chunks(args, client):
                writer.add(rec["tables"])
                metas.append(rec["meta"])
                if progress:
                    progress(len(metas), len(sizes))
        finally:
            writer.close()
        meta = _merge_meta(metas, n, seed, chunk_size)
        from relapse_ml.simulate.result import _json_default

        (Path(tmp) / "meta.json").write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
        source = (f"relapse_ml.simulate (scenario={meta['scenario']}, seed={seed}, n={n}, "
                  f"chunk_size={chunk_size})")
        (Path(tmp) / "cohort.json").write_text(
            json.dumps({"name": meta["name"], "source": source, "extra_columns": {}}, indent=2) + "\n"
        )
    meta["rows"] = writer.rows
    return meta


def _chunks(args, client):
    """Chunk results in chunk order; computed serially or on ``client``'s workers."""
    if client is None:
        for a in args:
            yield simulate_chunk(*a)
        return
    window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
    pending: deque = deque()
    todo = iter(args)
    for a in todo:
        pending.append(client.submit(simulate_chunk, *a, pure=False))
        if len(pending) >= window:
            break
    while pending:
        fut = pending.popleft()
        rec = fut.result()
        fut.release()
        nxt = next(todo, None)
        if nxt is not None:
            pending.append(client.submit(simulate_chunk, *nxt, pure=False))
        yield rec
