"""`kozo model export`: an artifact from a run folder's checkpoint, or from several runs.

Training exports its best checkpoint already; this exports again, under
another name, version or folder, or from last.pt of a run that was stopped.
The run's config.json fixes the data, splits and normalisation, so they are
derived again exactly as in training, and the test metrics are measured anew
for the exported weights.

Several runs that differ only in their initialisation (`seed`, with one
`split_seed`) export as one ensemble artifact: the mean of their predictions,
scored on the split they share.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from model.nn.ensemble import EnsembleModel
from model.training.config import ConfigError, TrainConfig
from model.training.preparation import prepare
from model.training.trainer import CONFIG_FILE, build_model, split_metrics, write_artifact
from model.training.weight_average import averaged_weights

CHECKPOINTS = {"best": "best.pt", "last": "last.pt"}
# what an ensemble's members must share: the data, the split, the targets and the graph
SHARED_KEYS = ("data", "targets", "summed_targets", "cutoff", "architecture", "features",
               "interactions", "split", "split_sizes", "train_fraction", "val_fraction",
               "train_limit", "limit", "tail_percentiles", "split_target")


def load_run_config(run: Path) -> TrainConfig:
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{run}: not a training run folder (no {CONFIG_FILE})")
    return TrainConfig(**json.loads(path.read_text())).validate()


def export_runs(runs: list[Path], out: Path, *, checkpoint: str = "best",
                name: str | None = None, version: str | None = None) -> Path:
    """One run's model, or the ensemble (mean) of several runs' models, as an artifact."""
    if len({Path(run).resolve() for run in runs}) < len(runs):
        raise ConfigError("an ensemble's runs must be different run folders; one is given twice")
    configs = [load_run_config(run) for run in runs]
    config = configs[0]
    for run, other in zip(runs[1:], configs[1:]):
        differing = [key for key in SHARED_KEYS if getattr(other, key) != getattr(config, key)]
        if other.split_rng_seed != config.split_rng_seed:
            differing.append("split_seed")
        if differing:
            raise ConfigError(f"{run} cannot join {runs[0]} in an ensemble: they differ in "
                              f"{', '.join(differing)} (members differ only in seed)")
    config.name, config.version = name or config.name, version or config.version
    prepared = prepare(config)
    models = [load_checkpoint(run, member, prepared.specs, checkpoint)
              for run, member in zip(runs, configs)]
    model = models[0] if len(models) == 1 else EnsembleModel(models)
    metrics = {split: split_metrics(model, prepared.graphs, indices, config.batch_size)
               for split, indices in prepared.splits.items()}
    return write_artifact(model, config, prepared.graphs, prepared.splits, prepared.specs,
                          prepared.elements, metrics, prepared.dataset.fingerprint, Path(out))


def load_checkpoint(run: Path, config: TrainConfig, specs, checkpoint: str):
    """A run's model with the weights of its best (validated) or last checkpoint."""
    weights = Path(run) / CHECKPOINTS[checkpoint]
    if not weights.is_file():
        raise ConfigError(f"{weights}: no such checkpoint; the run has "
                          f"{', '.join(p.name for p in sorted(Path(run).glob('*.pt'))) or 'none'}")
    model = build_model(config, specs)
    state = torch.load(weights, weights_only=checkpoint == "best")
    if checkpoint == "best":  # the weights that were validated: the average, when kept
        model.load_state_dict(state)
    else:
        model.load_state_dict(averaged_weights(state["ema"]) if "ema" in state else state["model"])
    return model
