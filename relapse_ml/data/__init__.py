"""Cohort data: contract, validation, loading and writing."""
from relapse_ml.data.cohort import Cohort
from relapse_ml.data.io import cohort_from_frames, read_cohort, write_cohort

__all__ = ["Cohort", "cohort_from_frames", "read_cohort", "write_cohort"]
