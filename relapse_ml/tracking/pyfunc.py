"""The MLflow pyfunc flavour of a `RelapseRiskPredictor` (imports mlflow: load lazily)."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from relapse_ml.predictor import RelapseRiskPredictor


class RelapseRiskPyfunc(mlflow.pyfunc.PythonModel):
    """``predict`` returns relapse and NRM cumulative incidence at the horizons under both arms."""

    def __init__(self, predictor: RelapseRiskPredictor):
        self.predictor = predictor

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.predictor.predict(pd.DataFrame(model_input))


def log_predictor(predictor: RelapseRiskPredictor, X_columns: list[str], registered_name: str | None,
                  training=None):
    """Log the predictor as a pyfunc model with a schema-only signature (no example rows).

    MLflow registers the version only after the model's artifacts are fully written (a
    process killed before leaves no version). A registered version is then exported to the
    local bundle cache (`relapse_ml.scoring.registry`), so ``score`` with a registry
    reference loads it without MLflow; ``training`` (the landmark training data) gives a
    tree model's drivers their background.
    """
    import numpy as np
    from mlflow.models import infer_signature

    # a synthetic all-NaN frame carries the schema; no patient row ever reaches the artifact
    schema_in = pd.DataFrame({c: np.array([np.nan], dtype=float) for c in X_columns})
    schema_out = pd.DataFrame({c: np.array([0.0]) for c in predictor.output_columns()})
    signature = infer_signature(schema_in, schema_out)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=RelapseRiskPyfunc(predictor),
        signature=signature,
        registered_model_name=registered_name,
        pip_requirements=["relapse-ml"],
    )
    version = getattr(info, "registered_model_version", None)
    if registered_name and version is not None:
        from relapse_ml.scoring.registry import cache_registered

        cache_registered(predictor, mlflow.get_tracking_uri(), registered_name, str(version),
                         training=training)
    return info
