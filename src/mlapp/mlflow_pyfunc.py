"""MLflow pyfunc wrapper, logged as *code* (models-from-code), so no pickle is written.

MLflow executes this file when loading the model; the model itself is read from the
native XGBoost file and the JSON spec logged as artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext


class PyfuncModel(PythonModel):
    def load_context(self, context: PythonModelContext) -> None:
        from mlapp.model import load

        self.model = load(Path(context.artifacts["model_dir"]))

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self.model.outputs(self.model.scores(model_input))


mlflow.models.set_model(PyfuncModel())
