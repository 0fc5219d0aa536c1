"""The training loop: epochs with validation, early stopping, checkpoints and resume.

Outputs in the run folder: metrics.csv (one row per epoch), metrics.json
(final, per split), learning_curve.png, best.pt and last.pt (with optimizer and
random states, so that a resumed run continues exactly where it stopped), and
the exported artifact in artifact/ (model.onnx + model.json).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from model.artifact import ArtifactMetadata, TargetInfo
from model.datasets import read_dataset
from model.export_onnx import export_onnx
from model.graph_cache import GraphSet, load_or_build_graphs
from model.nn import PaiNN, PropertyHead, SchNet, collate
from model.nn.property_model import PropertyModel
from model.training.config import ConfigError, TrainConfig
from model.training.metrics import regression_metrics
from model.training.normalisation import target_specs
from model.training.splits import random_split


@dataclass
class TrainResult:
    output: Path
    epochs_run: int
    best_epoch: int
    metrics: dict[str, dict[str, dict[str, float]]]  # split → target → metric → value
    artifact: Path


def build_model(config: TrainConfig, specs) -> PropertyModel:
    backbone_class = PaiNN if config.architecture == "painn" else SchNet
    backbone = backbone_class(n_features=config.features, n_interactions=config.interactions,
                              cutoff=config.cutoff)
    return PropertyModel(backbone, PropertyHead(config.features, specs))


def predict_indices(model: PropertyModel, graphs: GraphSet, indices: np.ndarray,
                    batch_size: int) -> dict[str, np.ndarray]:
    model.eval()
    parts: dict[str, list[np.ndarray]] = {t.name: [] for t in model.head.targets}
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            predictions = model.predict(collate(graphs, indices[start:start + batch_size]))
            for name, values in predictions.items():
                parts[name].append(values.double().numpy())
    return {name: np.concatenate(values) if values else np.zeros(0)
            for name, values in parts.items()}


def split_metrics(model, graphs, indices, batch_size) -> dict[str, dict[str, float]]:
    predicted = predict_indices(model, graphs, indices, batch_size)
    return {name: regression_metrics(values, graphs.targets[name][indices])
            for name, values in predicted.items()}


def _loss(model: PropertyModel, batch) -> torch.Tensor:
    """Mean squared error in normalised units, over targets and known values."""
    predictions = model.predict(batch)
    terms = []
    for target in model.head.targets:
        actual = batch.targets[target.name]
        known = torch.isfinite(actual)
        if known.any():
            scale = target.std * (batch.graph_index.bincount(minlength=batch.n_graphs)[known]
                                  if target.aggregation == "sum" else 1.0)
            terms.append((((predictions[target.name][known] - actual[known]) / scale) ** 2).mean())
    return torch.stack(terms).mean()


def _rng_state(generator: np.random.Generator) -> dict:
    return {"torch": torch.get_rng_state(), "numpy": generator.bit_generator.state}


def train(config: TrainConfig, *, resume: bool = False, show_progress: bool = True) -> TrainResult:
    from model.datasets.progress import progress

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    dataset = read_dataset(config.data, limit=config.limit or None)
    missing = [t for t in config.targets if t not in dataset.units]
    if missing:
        raise ConfigError(f"{config.data} has no target {missing}; it has "
                          f"{', '.join(dataset.target_names)}")
    graphs = load_or_build_graphs(dataset, config.cutoff, Path(config.cache_dir))
    splits = random_split(len(graphs), config.train_fraction, config.val_fraction, config.seed)
    if min(len(s) for s in splits.values()) == 0:
        raise ConfigError(f"{len(graphs)} structures leave an empty split; use more data")
    atom_starts = np.concatenate([[0], np.cumsum(graphs.atom_counts)])
    train_atoms = np.concatenate([np.arange(atom_starts[g], atom_starts[g + 1])
                                  for g in splits["train"]])
    elements = sorted(int(z) for z in np.unique(graphs.numbers[train_atoms]))
    specs = target_specs(graphs, splits["train"], config.targets, config.summed_targets,
                         dataset.units, elements)

    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    model = build_model(config, specs)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    first_epoch, best_score, best_epoch = 1, math.inf, 0
    last_path, best_path = output / "last.pt", output / "best.pt"
    metrics_path = output / "metrics.csv"
    if resume and last_path.is_file():
        state = torch.load(last_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        generator.bit_generator.state = state["rng"]["numpy"]
        first_epoch, best_score, best_epoch = state["epoch"] + 1, state["best_score"], state["best_epoch"]
    else:
        with metrics_path.open("w", newline="") as handle:
            csv.writer(handle).writerow(["epoch", "train_loss"]
                                        + [f"val_mae_{t}" for t in config.targets])

    epoch = first_epoch - 1
    for epoch in range(first_epoch, config.epochs + 1):
        if epoch - best_epoch > config.patience and best_epoch > 0:
            epoch -= 1
            break
        model.train()
        order = generator.permutation(splits["train"])
        batches = [order[k:k + config.batch_size] for k in range(0, len(order), config.batch_size)]
        losses = []
        for indices in (progress(batches, f"epoch {epoch}/{config.epochs}") if show_progress
                        else batches):
            optimizer.zero_grad()
            loss = _loss(model, collate(graphs, indices))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        validation = split_metrics(model, graphs, splits["val"], config.batch_size)
        score = float(np.mean([validation[t.name]["mae"] / t.std for t in specs]))
        if score < best_score:
            best_score, best_epoch = score, epoch
            torch.save(model.state_dict(), best_path)
        with metrics_path.open("a", newline="") as handle:
            csv.writer(handle).writerow([epoch, float(np.mean(losses))]
                                        + [validation[t]["mae"] for t in config.targets])
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "rng": _rng_state(generator), "epoch": epoch, "best_score": best_score,
                    "best_epoch": best_epoch}, last_path)

    model.load_state_dict(torch.load(best_path, weights_only=True))
    metrics = {name: split_metrics(model, graphs, indices, config.batch_size)
               for name, indices in splits.items()}
    (output / "metrics.json").write_text(json.dumps(
        {"best_epoch": best_epoch, "epochs_run": epoch, "config": asdict(config),
         "metrics": metrics}, indent=2) + "\n")
    plot_learning_curve(metrics_path, output / "learning_curve.png")
    artifact = write_artifact(model, config, graphs, splits, specs, elements, metrics,
                              dataset.fingerprint, output / "artifact")
    return TrainResult(output=output, epochs_run=epoch, best_epoch=best_epoch,
                       metrics=metrics, artifact=artifact)


def write_artifact(model, config, graphs, splits, specs, elements, metrics, fingerprint,
                   directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    example = collate(graphs, splits["train"][:4] if len(splits["train"]) >= 2
                      else np.arange(min(2, len(graphs))))
    export_onnx(model, directory / "model.onnx", example)
    ArtifactMetadata(
        name=config.name, version=config.version, cutoff=config.cutoff, elements=elements,
        targets=[TargetInfo(s.name, s.unit, s.aggregation, s.mean, s.std) for s in specs],
        data_fingerprint=fingerprint,
        splits={name: [graphs.ids[k] for k in indices] for name, indices in splits.items()},
        metrics={split: {f"{t}_{m}": v for t, values in per_target.items()
                         for m, v in values.items()} for split, per_target in metrics.items()},
        architecture={"kind": config.architecture, "features": config.features,
                      "interactions": config.interactions}).write(directory)
    return directory


def plot_learning_curve(metrics_csv: Path, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with metrics_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    epochs = [int(r["epoch"]) for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [float(r["train_loss"]) for r in rows])
    left.set(xlabel="epoch", ylabel="training loss (normalised MSE)", yscale="log")
    for key in [k for k in rows[0] if k.startswith("val_mae_")]:
        right.plot(epochs, [float(r[key]) for r in rows], label=key.removeprefix("val_mae_"))
    right.set(xlabel="epoch", ylabel="validation MAE", yscale="log")
    right.legend()
    figure.tight_layout()
    figure.savefig(png, dpi=100)
    plt.close(figure)
