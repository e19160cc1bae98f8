"""The embedded demo cohort: a simulated trial the size of NCT04674345 (346 randomized).

It is generated deterministically on first use into a cache directory
(``$RELAPSE_ML_CACHE``, default ``~/.cache/relapse-ml``) and validated like any cohort.
"""

from __future__ import annotations

import os
from pathlib import Path

from relapse_ml.errors import RelapseMLError

DEMO_PARAMS = {"n": 346, "seed": 0, "scenario": "mrd_driven", "landmark_day": 60, "horizon_days": 730}


def demo_truth_landmarks() -> list[float]:
    """The default config's stacked landmarks (the visits the default model serves)."""
    from relapse_ml.config import default

    return [float(d) for d in default("landmark", "landmarks")]


def cache_root() -> Path:
    return Path(os.environ.get("RELAPSE_ML_CACHE", Path.home() / ".cache" / "relapse-ml"))


def simulator_fingerprint() -> str:
    """A short hash of the simulator's source, so a changed simulator never reuses a stale cache."""
    import hashlib

    import relapse_ml.simulate as sim

    h = hashlib.sha256()
    for f in sorted(Path(sim.__file__).parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def demo_cohort_dir() -> Path:
    """Directory of the demo cohort, simulated on first use (atomic, so safe to race)."""
    from relapse_ml.simulate import simulate_trial

    tag = "demo-{n}-{seed}-{scenario}-tl".format(**DEMO_PARAMS)  # tl: with truth at every visit
    path = cache_root() / f"{tag}-{simulator_fingerprint()}"
    if (path / "patients.csv").exists():
        return path
    # the truth at every visit the default model serves, so `train` shows the oracle per visit
    trial = simulate_trial(**DEMO_PARAMS, truth_landmarks=demo_truth_landmarks())
    try:
        trial.write(path)
    except (RelapseMLError, OSError):
        if not (path / "patients.csv").exists():  # else another process wrote it first
            raise
    return path
