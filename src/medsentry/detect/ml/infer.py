"""Load the shipped classifier and score window features, all windows at once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from medsentry.detect.ml.features import MODEL_FEATURES, select_model_columns
from medsentry.detect.ml.train import META_FILE, MODEL_DIR, MODEL_FILE
from medsentry.errors import ConfigError


@dataclass(slots=True)
class Classifier:
    model: Any
    meta: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def predict(
        self, X: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.float64]]:
        """Class and probability of each row of ``X`` (all dataset columns, as made by
        ``features.window_features`` or ``features.load_dataset``)."""
        if len(X) == 0:
            return np.zeros(0, dtype="<U32"), np.zeros(0)
        # One thread: small batches pay more for waking a thread team than they gain,
        # and the pipeline shares the machine with capture and other stages.
        with _threads().limit(limits=1, user_api="openmp"):
            proba = self.model.predict_proba(select_model_columns(X))
        best = np.argmax(proba, axis=1)
        return np.asarray(self.model.classes_)[best].astype(str), proba[np.arange(len(X)), best]


@lru_cache(maxsize=1)
def _threads() -> ThreadpoolController:
    """Finding the thread pools scans the loaded libraries: do it once."""
    return ThreadpoolController()


def model_path(directory: Path = MODEL_DIR) -> Path:
    return directory / MODEL_FILE


@lru_cache(maxsize=2)
def load_classifier(directory: Path = MODEL_DIR) -> Classifier:
    """The trained model and its metadata; checks the features match this code."""
    path = model_path(directory)
    if not path.exists():
        raise ConfigError(f"no trained model at {path}: run `medsentry model train`")
    meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    if tuple(meta["features"]) != MODEL_FEATURES:
        raise ConfigError(
            f"{path} was trained on other features than this version computes: "
            "run `medsentry model train` again"
        )
    return Classifier(joblib.load(path), meta)
