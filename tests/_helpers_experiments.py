"""Load a script of experiments/ as a module (its functions are tested on tiny data)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def load_experiment(name: str, module_name: str | None = None):
    """experiments/``name``.py imported as ``module_name`` (default: ``name``)."""
    spec = importlib.util.spec_from_file_location(module_name or name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
