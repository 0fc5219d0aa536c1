"""Training loop of the crystal generator: epochs, validation loss, checkpoints, resume.

Outputs in the run folder: config.json, metrics.csv (one row per epoch: the
training loss and the validation loss with its three terms), learning_curve.png,
best.pt and last.pt (with optimizer and random states for --resume), and the
generator artifact in generator/ (weights.pt + generator.json) from the best epoch.
Validation noise is drawn from a fixed seed, so validation losses compare across epochs.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from model.allocator import keep_freed_memory
from model.datasets import read_dataset
from model.generative.artifact import load_generator, save_generator
from model.generative.config import SAMPLING_LIMITS, GeneratorConfig
from model.generative.crystals import CrystalSet, collate_crystals, crystals_from_dataset
from model.generative.diffusion import CrystalDiffusion, Normalisation
from model.generative.lattice import lattice_to_vector
from model.training.config import ConfigError
from model.training.trainer import learning_rate
from model.training.checkpoints import (keep_epochs_up_to, restore_rng_state, rng_state,
                                        save_atomically)

LATTICE_STD_FLOOR = 0.05  # of log-lattice entries: ±5 % spread where the data has none
TERMS = ("coordinates", "lattice", "types")


@dataclass
class GeneratorResult:
    output: Path
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    artifact: Path


def normalisation_for(crystals: CrystalSet, train: np.ndarray) -> Normalisation:
    vectors = lattice_to_vector(torch.from_numpy(crystals.cells[train])).numpy()  # [n, 6]
    values = crystals.properties[train]
    with np.errstate(all="ignore"):
        p_mean = np.nan_to_num(np.nanmean(values, axis=0)) if values.size else np.zeros(0)
        p_std = np.nan_to_num(np.nanstd(values, axis=0), nan=1.0) if values.size else np.zeros(0)
    return Normalisation(
        lattice_mean=vectors.mean(0).tolist(),
        lattice_std=np.maximum(vectors.std(0), LATTICE_STD_FLOOR).tolist(),
        property_mean=p_mean.tolist(), property_std=np.where(p_std > 0, p_std, 1.0).tolist())


def weighted_loss(terms: dict[str, torch.Tensor], config: GeneratorConfig) -> torch.Tensor:
    return (terms["coordinates"] + config.lattice_weight * terms["lattice"]
            + config.type_weight * terms["types"])


def prepare_crystals(config: GeneratorConfig) -> tuple[CrystalSet, dict[str, np.ndarray], dict]:
    """Crystals, the train/val/test split (by the seed) and each property's unit. The test
    split (test_fraction) is never seen in training; its ids go into the artifact."""
    dataset = read_dataset(config.data, limit=config.limit or None)
    missing = [p for p in config.properties if p not in dataset.units]
    if missing:
        raise ConfigError(f"{', '.join(config.data)} has no property {missing}; it has "
                          f"{', '.join(dataset.target_names)}")
    crystals = crystals_from_dataset(dataset, config.properties, niggli=config.niggli)
    order = np.random.default_rng(config.seed).permutation(len(crystals))
    n_val = max(1, int(round(config.val_fraction * len(crystals)))) if len(crystals) > 1 else 0
    n_test = int(round(config.test_fraction * len(crystals)))
    if n_val + n_test >= len(crystals):
        raise ConfigError(f"{len(crystals)} crystals leave none for training with val_fraction "
                          f"{config.val_fraction} and test_fraction {config.test_fraction}")
    splits = {"train": np.sort(order[n_val + n_test:]), "val": np.sort(order[:n_val]),
              "test": np.sort(order[n_val:n_val + n_test])}
    return crystals, splits, {p: dataset.units[p] for p in config.properties}


def build_generator(config: GeneratorConfig, crystals: CrystalSet, train: np.ndarray
                    ) -> CrystalDiffusion:
    vocabulary = sorted(set(crystals.numbers.tolist()))
    return CrystalDiffusion(mode=config.mode, vocabulary=vocabulary, properties=config.properties,
                            normalisation=normalisation_for(crystals, train),
                            features=config.features, layers=config.layers, cutoff=config.cutoff,
                            sigma_min=config.sigma_min, sigma_max=config.sigma_max)


def validation_terms(model: CrystalDiffusion, crystals: CrystalSet, indices: np.ndarray,
                     config: GeneratorConfig) -> dict[str, float]:
    model.eval()
    generator = torch.Generator().manual_seed(12345)
    sums = {name: 0.0 for name in TERMS}
    norm = model.normalisation
    with torch.no_grad():
        for start in range(0, len(indices), config.batch_size):
            chunk = indices[start:start + config.batch_size]
            batch = collate_crystals(crystals, chunk, model.vocabulary,
                                     np.asarray(norm.property_mean), np.asarray(norm.property_std))
            terms = model.loss(batch, 0.0, generator)
            for name in TERMS:
                sums[name] += float(terms[name]) * len(chunk)
    values = {name: value / max(1, len(indices)) for name, value in sums.items()}
    values["loss"] = float(weighted_loss({k: torch.tensor(v) for k, v in values.items()}, config))
    return values


def start_from(model: CrystalDiffusion, init: str, training_ids: set[str]) -> None:
    """Load a generator's weights into `model`, which the configuration built: a warm
    restart of a trained generator (a shipped one, say) on the same data and split.
    ConfigError when the two differ in vocabulary, properties, normalisation or size, or
    when this configuration would train on crystals the generator held out."""
    trained, description = load_generator(init)
    held_out = set(description.get("test_ids", [])) | set(description.get("validation_ids", []))
    if held_out & training_ids:
        raise ConfigError(f"init {init} held out {len(held_out & training_ids)} crystals that "
                          f"this configuration trains on; use its data, seed and fractions")
    differing = [key for key in ("vocabulary", "properties", "mode")
                 if getattr(trained, key) != getattr(model, key)]
    theirs = asdict(trained.normalisation)
    if any(not np.allclose(value, theirs[key], rtol=1e-9, atol=1e-12)
           for key, value in asdict(model.normalisation).items()):
        differing.append("normalisation")
    if differing:
        raise ConfigError(f"init {init}: its {' and '.join(differing)} differ from this "
                          f"configuration's; train from it on the same data and split")
    try:
        model.load_state_dict(trained.state_dict())
    except RuntimeError as error:
        raise ConfigError(f"init {init}: its network does not fit this configuration's "
                          f"(features, layers): {str(error).splitlines()[0]}") from None


def train_generator(config: GeneratorConfig, *, resume: bool = False,
                    show_progress: bool = True) -> GeneratorResult:
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    keep_freed_memory()
    try:
        return _train(config, resume, show_progress)
    finally:
        torch.set_num_threads(threads_before)


def _train(config: GeneratorConfig, resume: bool, show_progress: bool) -> GeneratorResult:
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    crystals, splits, units = prepare_crystals(config)
    (output / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    model = build_generator(config, crystals, splits["train"])
    if config.init and not (resume and (output / "last.pt").is_file()):
        start_from(model, config.init, {crystals.ids[k] for k in splits["train"]})
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    norm = model.normalisation
    p_mean, p_std = np.asarray(norm.property_mean), np.asarray(norm.property_std)
    last_path, best_path, metrics_path = output / "last.pt", output / "best.pt", output / "metrics.csv"
    first_epoch, best_loss, best_epoch, seconds_before = 1, math.inf, 0, 0.0
    if resume and last_path.is_file():
        state = torch.load(last_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"], generator)
        first_epoch, best_loss, best_epoch = state["epoch"] + 1, state["best_loss"], state["best_epoch"]
        seconds_before = state.get("seconds_used", 0.0)  # the time limit counts the whole run
        keep_epochs_up_to(metrics_path, state["epoch"])
    else:
        with metrics_path.open("w", newline="") as handle:
            csv.writer(handle).writerow(["epoch", "learning_rate", "train_loss", "val_loss"]
                                        + [f"val_{t}" for t in TERMS])
    started, epoch = time.monotonic() - seconds_before, first_epoch - 1
    for epoch in range(first_epoch, config.epochs + 1):
        if (config.time_limit and epoch > first_epoch
                and time.monotonic() - started > 60 * config.time_limit) \
                or (best_epoch > 0 and epoch - best_epoch > config.patience):
            epoch -= 1
            break
        model.train()
        time_used = (time.monotonic() - started) / (60 * config.time_limit) \
            if config.time_limit else None
        rate = learning_rate(config, epoch, time_used)
        optimizer.param_groups[0]["lr"] = rate
        order = generator.permutation(splits["train"])
        losses = []
        for k in range(0, len(order), config.batch_size):
            batch = collate_crystals(crystals, order[k:k + config.batch_size], model.vocabulary,
                                     p_mean, p_std)
            optimizer.zero_grad()
            loss = weighted_loss(model.loss(batch, config.condition_dropout), config)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            losses.append(float(loss.detach()))
        validation = validation_terms(model, crystals, splits["val"], config)
        if validation["loss"] < best_loss:
            best_loss, best_epoch = validation["loss"], epoch
            save_atomically(model.state_dict(), best_path)
        with metrics_path.open("a", newline="") as handle:
            csv.writer(handle).writerow([epoch, rate, float(np.mean(losses)), validation["loss"]]
                                        + [validation[t] for t in TERMS])
        if show_progress:
            print(f"epoch {epoch}/{config.epochs}: loss {np.mean(losses):.4g}, validation "
                  f"{validation['loss']:.4g} (coordinates {validation['coordinates']:.3g}, "
                  f"lattice {validation['lattice']:.3g}, types {validation['types']:.3g})"
                  f"{' (best)' if best_epoch == epoch else ''}", file=sys.stderr, flush=True)
        save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "rng": rng_state(generator),
                         "epoch": epoch, "best_loss": best_loss, "best_epoch": best_epoch,
                         "seconds_used": time.monotonic() - started}, last_path)
    from model.plots import plot_generator_curve

    plot_generator_curve(metrics_path, output / "learning_curve.png")
    if best_path.is_file():
        model.load_state_dict(torch.load(best_path, weights_only=True))
    counts, frequency = np.unique(crystals.atom_counts[splits["train"]], return_counts=True)
    artifact = save_generator(model, output / "generator", {
        "name": config.name, "version": config.version, "units": units,
        "atom_counts": {int(c): int(n) for c, n in zip(counts, frequency, strict=True)},
        **{key: getattr(config, key) for key in SAMPLING_LIMITS},
        "guidance": config.guidance, "best_epoch": best_epoch,
        "best_val_loss": best_loss, "data": config.data,
        "validation_ids": [crystals.ids[k] for k in splits["val"]],
        "test_ids": [crystals.ids[k] for k in splits["test"]]})
    return GeneratorResult(output=output, epochs_run=epoch, best_epoch=best_epoch,
                           best_val_loss=best_loss, artifact=artifact)
