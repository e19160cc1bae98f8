"""MLflow tracking: where runs go, what identifies them, the pyfunc model, run listings."""

from relapse_ml.tracking.store import data_fingerprint, git_commit, resolve_tracking_uri

__all__ = ["data_fingerprint", "git_commit", "resolve_tracking_uri"]
