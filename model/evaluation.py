"""`kozo model evaluate`: score an artifact on any labelled data set, through onnxruntime.

The data set's column is matched to the model's target by name, or through
the aliases of the same quantity (perov_5's heat_all is Castelli's e_form).
Structures holding elements the model never saw cannot be judged: they are
counted and named, not scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kozo.errors import KozoError
from model.datasets import read_dataset
from model.datasets.combine import canonical_target
from model.datasets.progress import progress
from model.infer import Predictor
from model.training.metrics import regression_metrics

BATCH = 256  # structures per onnxruntime call


@dataclass
class Evaluation:
    target: str  # the model's target name
    unit: str
    metrics: dict[str, float]  # mae, rmse, r2, n
    predicted: np.ndarray
    actual: np.ndarray
    skipped: list[str] = field(default_factory=list)  # ids with elements the model never saw


def model_target(predictor: Predictor, column: str) -> str:
    """The model's target for a data set column: the same name, else the same quantity."""
    names = predictor.target_names
    if column in names:
        return column
    for name in names:
        if canonical_target(name) == canonical_target(column):
            return name
    raise KozoError(f"model {predictor.metadata.name} does not predict {column!r}; "
                    f"it predicts {', '.join(names)}")


def evaluate(artifact: Path, data: str | Path, column: str, *, limit: int | None = None,
             show_progress: bool = True) -> Evaluation:
    predictor = Predictor(artifact)
    target = model_target(predictor, column)
    dataset = read_dataset(data, limit=limit)
    if column not in dataset.units:
        raise KozoError(f"{data} has no column {column!r}; it has "
                        f"{', '.join(dataset.target_names)}")
    usable, skipped = [], []
    for sample in dataset.samples:
        if not set(sample.structure.numbers.tolist()) <= predictor.known_elements:
            skipped.append(sample.id)
        elif np.isfinite(sample.targets.get(column, np.nan)):
            usable.append(sample)
    blocks = range(0, len(usable), BATCH)
    column_index = predictor.target_names.index(target)
    parts = [predictor.predict_arrays([s.structure for s in usable[k:k + BATCH]])[:, column_index]
             for k in (progress(blocks, "predicting", total=len(blocks)) if show_progress
                       else blocks)]
    predicted = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
    actual = np.array([s.targets[column] for s in usable], dtype=np.float64)
    unit = next(t.unit for t in predictor.metadata.targets if t.name == target)
    return Evaluation(target, unit, regression_metrics(predicted, actual), predicted, actual,
                      skipped)
