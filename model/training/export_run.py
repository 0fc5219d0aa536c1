"""`kozo model export`: an artifact from a run folder's checkpoint.

Training exports its best checkpoint already; this exports again, under
another name, version or folder, or from last.pt of a run that was stopped.
The run's config.json fixes the data, splits and normalisation, so they are
derived again exactly as in training, and the test metrics are measured anew
for the exported weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from model.training.config import ConfigError, TrainConfig
from model.training.preparation import prepare
from model.training.trainer import CONFIG_FILE, build_model, split_metrics, write_artifact
from model.training.weight_average import averaged_weights

CHECKPOINTS = {"best": "best.pt", "last": "last.pt"}


def load_run_config(run: Path) -> TrainConfig:
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{run}: not a training run folder (no {CONFIG_FILE})")
    return TrainConfig(**json.loads(path.read_text())).validate()


def export_run(run: Path, out: Path, *, checkpoint: str = "best", name: str | None = None,
               version: str | None = None) -> Path:
    """Write model.onnx + model.json for one checkpoint of a run; returns the folder."""
    config = load_run_config(run)
    weights = Path(run) / CHECKPOINTS[checkpoint]
    if not weights.is_file():
        raise ConfigError(f"{weights}: no such checkpoint; the run has "
                          f"{', '.join(p.name for p in sorted(Path(run).glob('*.pt'))) or 'none'}")
    config.name, config.version = name or config.name, version or config.version
    prepared = prepare(config)
    model = build_model(config, prepared.specs)
    state = torch.load(weights, weights_only=checkpoint == "best")
    if checkpoint == "best":  # the weights that were validated: the average, when kept
        model.load_state_dict(state)
    else:
        model.load_state_dict(averaged_weights(state["ema"]) if "ema" in state else state["model"])
    metrics = {split: split_metrics(model, prepared.graphs, indices, config.batch_size)
               for split, indices in prepared.splits.items()}
    return write_artifact(model, config, prepared.graphs, prepared.splits, prepared.specs,
                          prepared.elements, metrics, prepared.dataset.fingerprint, Path(out))
