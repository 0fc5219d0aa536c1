"""The training loop: epochs with validation, early stopping, checkpoints and resume.

Outputs in the run folder: metrics.csv (one row per epoch), metrics.json
(final, per split, with Spearman's ρ and the MAE per shot group of each test
split), predictions.csv (each test structure's prediction), learning_curve.png,
best.pt and last.pt (with optimizer and random states, so that a resumed run
continues exactly where it stopped), and the exported artifact in artifact/
(model.onnx + model.json). With `init`, the backbone starts from a pre-trained
one (see finetune.py).
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
from model.artifact import ArtifactMetadata, TargetInfo
from model.export_onnx import export_onnx
from model.graph_cache import GraphSet
from model.nn import PaiNN, PropertyHead, SchNet, collate
from model.nn.ensemble import EnsembleModel
from model.nn.property_model import PropertyModel
from model.training.checkpoints import (keep_epochs_up_to, restore_rng_state, rng_state,
                                        save_atomically)
from model.training.config import ConfigError, TrainConfig
from model.training.distributed import Cluster
from model.training.finetune import freeze_layers, load_pretrained_backbone
from model.training.imbalance import NoiseScales, balanced_mse, lds_weights
from model.training.metrics import rank_correlation, regression_metrics, shot_metrics
from model.plots import plot_learning_curve
from model.training.preparation import prepare
from model.training.weight_average import weight_average


CONFIG_FILE = "config.json"  # the run's configuration, written before the first epoch


@dataclass
class TrainResult:
    output: Path
    epochs_run: int
    best_epoch: int
    metrics: dict[str, dict[str, dict[str, float]]]  # split → target → metric → value
    artifact: Path
    main_process: bool = True  # False on the other processes of a torchrun launch


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
    """Per target: MAE, RMSE, R², n and Spearman's ρ on the structures at `indices`."""
    predicted = predict_indices(model, graphs, indices, batch_size)
    return {name: regression_metrics(values, graphs.targets[name][indices])
            | {"spearman": rank_correlation(values, graphs.targets[name][indices])}
            for name, values in predicted.items()}


def learning_rate(config: TrainConfig, epoch: int, time_used: float | None = None) -> float:
    """The rate for an epoch (from 1). A function of the epoch alone, so resume needs no state;
    under a time limit the cosine follows the fraction of the time used instead (last.pt
    keeps the seconds used, so a resumed run goes on along the same curve)."""
    if config.schedule == "constant" or (config.epochs == 1 and time_used is None):
        return config.learning_rate
    progress_made = min(time_used, 1.0) if time_used is not None \
        else (epoch - 1) / (config.epochs - 1)
    return config.learning_rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress_made)))


def _error_sums(model: PropertyModel, batch, kinds: dict[str, str],
                weights: torch.Tensor | None = None,
                noise: NoiseScales | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per target: the sum of squared (or absolute, or Balanced MSE) errors in normalised units
    over the known values, and how many there are. [n_targets] each.

    `kinds` names each target's loss (TrainConfig.losses); weights [n_graphs, n_targets]
    (LDS) multiply each sample's error; `noise` holds the Balanced MSE σ of each target."""
    predictions = model.predict(batch) if batch.n_graphs else {}
    sums, counts = [], []
    for k, target in enumerate(model.head.targets):
        actual = batch.targets[target.name]
        known = torch.isfinite(actual)
        if not known.any():
            sums.append(torch.zeros(()))
            counts.append(torch.zeros(()))
            continue
        scale = target.std * (batch.graph_index.bincount(minlength=batch.n_graphs)[known]
                              if target.aggregation == "sum" else 1.0)
        predicted_z, actual_z = predictions[target.name][known] / scale, actual[known] / scale
        kind = kinds[target.name]
        if kind == "balanced_mse":  # differences of z: the mean of an averaged target cancels
            sums.append(balanced_mse(predicted_z, actual_z, noise.variance(k)).sum())
            counts.append(known.sum().to(predicted_z.dtype))
            continue
        error = predicted_z - actual_z
        per_sample = error ** 2 if kind == "mse" else error.abs()
        if weights is not None:
            per_sample = per_sample * weights[known, k]
        sums.append(per_sample.sum())
        counts.append(known.sum().to(error.dtype))
    return torch.stack(sums), torch.stack(counts)


def _loss(model: PropertyModel, batch, kinds: dict[str, str], cluster: Cluster = Cluster(),
          weights: torch.Tensor | None = None, noise: NoiseScales | None = None
          ) -> tuple[torch.Tensor, float]:
    """This process's part of the mean error over targets of the global batch, and that
    mean's value (the same on every process)."""
    sums, counts = _error_sums(model, batch, kinds, weights, noise)
    global_counts = cluster.total(counts)
    present = global_counts > 0
    per_target = sums[present] / global_counts[present]
    loss = per_target.sum() / present.sum()
    return loss, float(cluster.total(loss).item())


def sample_weights(config: TrainConfig, graphs: GraphSet, train: np.ndarray
                   ) -> np.ndarray | None:
    """[n_structures, n_targets] LDS weights of every structure (each target from its own
    training labels; a summed target's per atom, as its loss sees it), or None."""
    if config.loss_weighting != "lds":
        return None
    columns = []
    for name in config.targets:
        values = graphs.targets[name] / (graphs.atom_counts if name in config.summed_targets
                                         else 1.0)
        columns.append(lds_weights(values[train], values, n_bins=config.lds_bins,
                                   kernel_size=config.lds_kernel_size, sigma=config.lds_sigma,
                                   power=config.lds_power))
    return np.stack(columns, axis=1)



def train(config: TrainConfig, *, resume: bool = False, show_progress: bool = True) -> TrainResult:
    """Train with `config.threads` torch threads: one thread makes a seed reproduce a run exactly
    (several threads sum scattered gradients in a varying order)."""
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    keep_freed_memory()
    cluster = Cluster.from_environment()
    try:
        result = _train(config, cluster, resume=resume,
                        show_progress=show_progress and cluster.is_main)
    except BaseException:
        cluster.close()
        raise
    finally:
        torch.set_num_threads(threads_before)
    cluster.finish()
    return result


def _train(config: TrainConfig, cluster: Cluster, *, resume: bool,
           show_progress: bool) -> TrainResult:
    from model.datasets.progress import progress

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    run = prepare(config)
    graphs, splits, specs, elements = run.graphs, run.splits, run.specs, run.elements
    if cluster.is_main:
        (output / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")

    if config.loss == "balanced_mse" and cluster.world > 1:
        raise ConfigError("loss=balanced_mse contrasts each label with its whole batch, which "
                          "torchrun splits across processes; train it in one process")
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    model = build_model(config, specs)
    if config.init and not (resume and (output / "last.pt").is_file()):
        load_pretrained_backbone(model.backbone, config)
    freeze_layers(model.backbone, config.freeze_layers)
    weights = sample_weights(config, graphs, splits["train"])
    noise = NoiseScales(len(specs), config.bmc_noise_sigma, config.bmc_learn_sigma)
    groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if config.loss == "balanced_mse" and config.bmc_learn_sigma:
        groups.append({"params": list(noise.parameters()), "lr": config.bmc_sigma_learning_rate})
    optimizer = (torch.optim.AdamW(groups, lr=config.learning_rate,
                                   weight_decay=config.weight_decay)
                 if config.weight_decay else torch.optim.Adam(groups, lr=config.learning_rate))
    losses_by_target = config.losses
    average = weight_average(model, config.ema_decay)
    evaluated = average.module if average is not None else model  # validated, best.pt
    first_epoch, best_score, best_epoch, seconds_before = 1, math.inf, 0, 0.0
    last_path, best_path = output / "last.pt", output / "best.pt"
    metrics_path = output / "metrics.csv"
    if resume and last_path.is_file():
        state = torch.load(last_path, weights_only=False)
        model.load_state_dict(state["model"])
        noise.load_state_dict(state.get("noise", noise.state_dict()))
        optimizer.load_state_dict(state["optimizer"])
        if average is not None and "ema" in state:  # else it starts at the next step
            average.load_state_dict(state["ema"])
        restore_rng_state(state["rng"], generator)
        first_epoch, best_score, best_epoch = state["epoch"] + 1, state["best_score"], state["best_epoch"]
        seconds_before = state.get("seconds_used", 0.0)  # the time limit counts the whole run
        if cluster.is_main:
            keep_epochs_up_to(metrics_path, state["epoch"])
    elif cluster.is_main:
        with metrics_path.open("w", newline="") as handle:
            csv.writer(handle).writerow(["epoch", "learning_rate", "train_loss"]
                                        + [f"val_mae_{t}" for t in config.targets])

    epoch = first_epoch - 1
    started = time.monotonic() - seconds_before
    for epoch in range(first_epoch, config.epochs + 1):
        out_of_time = cluster.any(bool(config.time_limit and epoch > first_epoch and
                                       time.monotonic() - started > 60 * config.time_limit))
        if out_of_time or (epoch - best_epoch > config.patience and best_epoch > 0):
            epoch -= 1
            break
        model.train()
        time_used = None
        if config.time_limit:  # every process takes the same (mean) value
            own = torch.tensor([(time.monotonic() - started) / (60 * config.time_limit)])
            time_used = float(cluster.total(own).item()) / cluster.world
        rate = learning_rate(config, epoch, time_used)
        optimizer.param_groups[0]["lr"] = rate  # the model's; a learned σ keeps its own
        order = generator.permutation(splits["train"])
        batches = [order[k:k + config.batch_size] for k in range(0, len(order), config.batch_size)]
        losses = []
        for indices in (progress(batches, f"epoch {epoch}/{config.epochs}") if show_progress
                        else batches):
            optimizer.zero_grad()
            share = cluster.share(indices)
            loss, global_loss = _loss(model, collate(graphs, share), losses_by_target, cluster,
                                      None if weights is None else torch.from_numpy(weights[share]),
                                      noise)
            if loss.requires_grad:  # a process whose share of the last batch is empty has none
                loss.backward()
            cluster.sum_gradients(model)
            optimizer.step()
            if average is not None:
                average.update_parameters(model)
            losses.append(global_loss)
        validation = split_metrics(evaluated, graphs, splits["val"], config.batch_size)
        score = float(np.mean([validation[t.name]["mae"] / t.std for t in specs]))
        if score < best_score:
            best_score, best_epoch = score, epoch
            if cluster.is_main:
                save_atomically(evaluated.state_dict(), best_path)
        if not cluster.is_main:
            continue
        with metrics_path.open("a", newline="") as handle:
            csv.writer(handle).writerow([epoch, rate, float(np.mean(losses))]
                                        + [validation[t]["mae"] for t in config.targets])
        if show_progress:
            errors = ", ".join(f"{t.name} {validation[t.name]['mae']:.4g} {t.unit}".rstrip()
                               for t in specs)
            print(f"epoch {epoch}/{config.epochs}: loss {np.mean(losses):.4g}, "
                  f"validation MAE {errors}{' (best)' if best_epoch == epoch else ''}",
                  file=sys.stderr, flush=True)
        save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "noise": noise.state_dict(),
                    **({"ema": average.state_dict()} if average is not None else {}),
                    "rng": rng_state(generator), "epoch": epoch, "best_score": best_score,
                    "best_epoch": best_epoch, "seconds_used": time.monotonic() - started},
                   last_path)

    if not cluster.is_main:
        return TrainResult(output=output, epochs_run=epoch, best_epoch=best_epoch, metrics={},
                           artifact=output / "artifact", main_process=False)
    model.load_state_dict(torch.load(best_path, weights_only=True))
    metrics = {name: split_metrics(model, graphs, indices, config.batch_size)
               for name, indices in splits.items()}
    shots = write_test_predictions(model, config, graphs, splits, output / "predictions.csv")
    (output / "metrics.json").write_text(json.dumps(
        {"best_epoch": best_epoch, "epochs_run": epoch, "config": asdict(config),
         "metrics": metrics, "shots": shots}, indent=2) + "\n")
    plot_learning_curve(metrics_path, output / "learning_curve.png",
                        {s.name: s.unit for s in specs})
    artifact = output / "artifact"
    if config.export:
        write_artifact(model, config, graphs, splits, specs, elements, metrics,
                       run.dataset.fingerprint, artifact)
    return TrainResult(output=output, epochs_run=epoch, best_epoch=best_epoch,
                       metrics=metrics, artifact=artifact)


def write_test_predictions(model: PropertyModel, config: TrainConfig, graphs: GraphSet,
                           splits: dict[str, np.ndarray], path: Path
                           ) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """predictions.csv (split, id, target, predicted, actual) for every test split, and the
    MAE per shot group: split → target → many/medium/few → {mae, n}."""
    shots: dict = {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["split", "id", "target", "predicted", "actual"])
        for split in [name for name in splits if name.startswith("test")]:
            indices = splits[split]
            predicted = predict_indices(model, graphs, indices, config.batch_size)
            shots[split] = {}
            for name, values in predicted.items():
                actual = graphs.targets[name][indices]
                writer.writerows([split, graphs.ids[g], name, repr(float(p)), repr(float(a))]
                                 for g, p, a in zip(indices, values, actual, strict=True))
                shots[split][name] = shot_metrics(
                    values, actual, graphs.targets[name][splits["train"]], config.shot_bins,
                    tuple(config.shot_thresholds))
    return shots


def write_artifact(model, config, graphs, splits, specs, elements, metrics, fingerprint,
                   directory: Path) -> Path:
    """model.onnx + model.json; an EnsembleModel records how many networks it averages."""
    members = len(model.members) if isinstance(model, EnsembleModel) else 1
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
                      "interactions": config.interactions}
        | ({"ensemble_members": members} if members > 1 else {})).write(directory)
    return directory
