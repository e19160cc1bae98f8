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


def log_predictor(predictor: RelapseRiskPredictor, X_columns: list[str], registered_name: str | None):
    """Log the predictor as a pyfunc model with a schema-only signature (no example rows)."""
    import numpy as np
    from mlflow.models import infer_signature

    # a synthetic all-NaN frame carries the schema; no patient row ever reaches the artifact
    schema_in = pd.DataFrame({c: np.array([np.nan], dtype=float) for c in X_columns})
    schema_out = pd.DataFrame({c: np.array([0.0]) for c in predictor.output_columns()})
    signature = infer_signature(schema_in, schema_out)
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=RelapseRiskPyfunc(predictor),
        signature=signature,
        registered_model_name=registered_name,
        pip_requirements=["relapse-ml"],
    )
