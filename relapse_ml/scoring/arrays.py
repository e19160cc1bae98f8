"""Plain numbers of the lean scoring twins and their JSON: float lists, prediction times,
Breslow baselines, a part's extra files under a name prefix (numpy only; shared by
`predict.py`, `linear.py` and the composite twins)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relapse_ml.errors import ModelError
from relapse_ml.incidence import BreslowBaseline


def check_times(times) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, dtype=float)).ravel()
    if t.size == 0 or not np.all(np.isfinite(t)) or (t < 0).any():
        raise ModelError("prediction times must be finite days >= 0 from the landmark")
    return t


@dataclass(frozen=True)
class Baseline(BreslowBaseline):
    """A `BreslowBaseline` that reads and writes the bundle's JSON."""

    def to_json(self) -> dict:
        return {
            "times": _list(self.times),
            "increments": _list(self.increments),
            "offset": float(self.offset),
        }

    @classmethod
    def from_json(cls, d: dict) -> Baseline:
        return cls(_array(d["times"]), _array(d["increments"]), float(d["offset"]))

    @classmethod
    def of(cls, fitted) -> Baseline:
        return cls(
            np.asarray(fitted.times, float),
            np.asarray(fitted.increments, float),
            float(fitted.offset),
        )


def _list(a) -> list:
    """Floats for JSON: exact round trip (repr), NaN as null."""
    return [None if v != v else float(v) for v in np.asarray(a, dtype=float).ravel()]


def _array(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def prefixed(files: dict[str, bytes], prefix: str) -> dict[str, bytes]:
    """A part's extra files (boosters) renamed under ``prefix``, so two parts never collide."""
    return {prefix + name: data for name, data in files.items()}


def unprefixed(files: dict[str, bytes], prefix: str) -> dict[str, bytes]:
    """The files stored under ``prefix``, with their own names back (`prefixed` undone)."""
    return {n[len(prefix):]: d for n, d in files.items() if n.startswith(prefix)}
