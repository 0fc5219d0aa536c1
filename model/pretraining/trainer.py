"""The pre-training loop: epochs over unlabelled structures, validation, checkpoints and resume.

Outputs in the run folder: config.json, metrics.csv (one row per epoch),
learning_curve.png, backbone.pt (the best validation epoch's backbone with its
sizes: what `kozo model train --init` reads) and last.pt (every module, the
optimizer and random states, so that a resumed run continues exactly). One
process; the validation corruption is drawn from a fixed seed, so epochs compare.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from model.allocator import keep_freed_memory
from model.datasets import read_dataset
from model.graph_cache import load_or_build_graphs
from model.nn import PaiNN, SchNet, collate
from model.nn.painn import MAX_ATOMIC_NUMBER
from model.plots import plot_pretraining_curve
from model.pretraining.config import PretrainConfig
from model.pretraining.objectives import (Losses, PretrainingModel, class_weights, corrupt,
                                          pretraining_losses)
from model.training.config import ConfigError
from model.training.finetune import BACKBONE_FILE, backbone_config
from model.training.splits import random_split
from model.training.checkpoints import (keep_epochs_up_to, restore_rng_state, rng_state,
                                        save_atomically)
from model.training.trainer import CONFIG_FILE, learning_rate

COLUMNS = ["epoch", "learning_rate", "train_loss", "train_denoise", "train_mask", "val_loss",
           "val_denoise", "val_mask", "val_mask_accuracy"]


@dataclass
class PretrainResult:
    output: Path
    epochs_run: int
    best_epoch: int
    backbone: Path  # backbone.pt
    validation: dict[str, float]  # the best epoch's val_* values


def pretrain(config: PretrainConfig, *, resume: bool = False,
             show_progress: bool = True) -> PretrainResult:
    """Pre-train with `config.threads` torch threads (one: a seed reproduces a run exactly)."""
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    keep_freed_memory()
    try:
        return _pretrain(config, resume=resume, show_progress=show_progress)
    finally:
        torch.set_num_threads(threads_before)


def _pretrain(config: PretrainConfig, *, resume: bool, show_progress: bool) -> PretrainResult:
    from model.datasets.progress import progress

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    dataset = read_dataset(config.data, limit=config.limit or None)
    graphs = load_or_build_graphs(dataset, config.cutoff, Path(config.cache_dir))
    splits = random_split(len(graphs), 1 - config.val_fraction, config.val_fraction, config.seed)
    train_indices = np.concatenate([splits["train"], splits["test"]])  # test is empty or tiny
    if len(train_indices) == 0 or len(splits["val"]) == 0:
        raise ConfigError(f"{len(graphs)} structures leave an empty training or validation "
                          f"split; use more data or another val_fraction")
    (output / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")

    elements, counts = np.unique(graphs.numbers, return_counts=True)
    element_class = torch.full((MAX_ATOMIC_NUMBER + 1,), -100, dtype=torch.int64)
    element_class[torch.from_numpy(elements)] = torch.arange(len(elements))
    weights = torch.tensor(class_weights(counts, config.mask_class_power), dtype=torch.float32)

    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    backbone_class = PaiNN if config.architecture == "painn" else SchNet
    backbone = backbone_class(n_features=config.features, n_interactions=config.interactions,
                              cutoff=config.cutoff)
    model = PretrainingModel(backbone, len(elements), denoise=config.denoise_weight > 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    last_path, metrics_path = output / "last.pt", output / "metrics.csv"
    first_epoch, best_score, best_epoch, best_row = 1, math.inf, 0, {}
    if resume and last_path.is_file():
        state = torch.load(last_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"], generator)
        first_epoch, best_score, best_epoch = state["epoch"] + 1, state["best_score"], \
            state["best_epoch"]
        best_row = state.get("best_row", {})
        keep_epochs_up_to(metrics_path, state["epoch"])
    else:
        with metrics_path.open("w", newline="") as handle:
            csv.writer(handle).writerow(COLUMNS)

    def losses_of(batch_indices: np.ndarray, corruption_generator=None) -> Losses:
        corruption = corrupt(collate(graphs, batch_indices), element_class, config.noise_sigma,
                             config.mask_fraction, corruption_generator)
        return pretraining_losses(model, corruption, weights, config.noise_sigma,
                                  config.denoise_weight, config.mask_weight)

    epoch = first_epoch - 1
    for epoch in range(first_epoch, config.epochs + 1):
        model.train()
        rate = learning_rate(config, epoch)
        optimizer.param_groups[0]["lr"] = rate
        order = generator.permutation(train_indices)
        batches = [order[k:k + config.batch_size] for k in range(0, len(order), config.batch_size)]
        parts = []
        for indices in (progress(batches, f"epoch {epoch}/{config.epochs}") if show_progress
                        else batches):
            optimizer.zero_grad()
            losses = losses_of(indices)
            losses.total.backward()
            optimizer.step()
            parts.append((float(losses.total.detach()), losses.denoise, losses.mask))
        validation = _validate(model, splits["val"], config, losses_of)
        row = dict(zip(COLUMNS, [epoch, rate, *np.mean(parts, axis=0), *validation], strict=True))
        if row["val_loss"] < best_score:
            best_score, best_epoch, best_row = row["val_loss"], epoch, row
            save_atomically({"backbone": model.backbone.state_dict(),
                             "backbone_config": backbone_config(config),
                             "elements": elements.tolist(), "epoch": epoch}, output / BACKBONE_FILE)
        with metrics_path.open("a", newline="") as handle:
            csv.writer(handle).writerow([row[c] for c in COLUMNS])
        if show_progress:
            print(f"epoch {epoch}/{config.epochs}: loss {row['train_loss']:.4g}, validation "
                  f"denoising {row['val_denoise']:.4g}, masked elements {row['val_mask']:.4g} "
                  f"(accuracy {row['val_mask_accuracy']:.1%})"
                  f"{' (best)' if best_epoch == epoch else ''}", file=sys.stderr, flush=True)
        save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "rng": rng_state(generator),
                         "epoch": epoch, "best_score": best_score, "best_epoch": best_epoch,
                         "best_row": best_row, "backbone": model.backbone.state_dict(),
                         "backbone_config": backbone_config(config)}, last_path)
    plot_pretraining_curve(metrics_path, output / "learning_curve.png")
    return PretrainResult(output, epoch, best_epoch, output / BACKBONE_FILE,
                          {k: v for k, v in best_row.items() if k.startswith("val_")})


def _validate(model: PretrainingModel, indices: np.ndarray, config: PretrainConfig,
              losses_of) -> list[float]:
    """Mean validation losses (total, denoise, mask) and mask accuracy, with the same
    corruption every epoch (a generator seeded from the run's seed)."""
    model.eval()
    fixed = torch.Generator().manual_seed(config.seed + 1)
    parts = []
    with torch.no_grad():
        for start in range(0, len(indices), config.batch_size):
            losses = losses_of(indices[start:start + config.batch_size], fixed)
            parts.append((float(losses.total), losses.denoise, losses.mask,
                          losses.mask_accuracy))
    return [float(x) for x in np.mean(parts, axis=0)]
