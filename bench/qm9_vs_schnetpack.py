"""QM9 accuracy at equal CPU budget: kozo's PaiNN against schnetpack's SchNet.

Same split (10k train / 1k validation / 10k test of all 130,831 molecules,
seed 0), same neighbour pairs (kozo's cache at 5 Å), same normalised targets
(U0 with per-element references fitted on the training split, HOMO-LUMO gap),
same L1 loss, Adam, batch size and cosine schedule over the same wall-clock
budget, one thread each, one after the other, in one process whose allocator keeps
freed memory (model/allocator.py: both sides are spared the page faults).
Each side is scored on the test
split with its best-validation weights. The table prints MAEs and the ratio
(above 1: kozo is more accurate).

    python bench/qm9_vs_schnetpack.py [--minutes 10]

Needs `pip install -e .[bench]` (schnetpack is installed only for this).
"""

from __future__ import annotations

import os

for variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.peers import schnetpack_peer  # noqa: E402
from model.allocator import keep_freed_memory  # noqa: E402
from model.nn import collate  # noqa: E402
from model.training.config import TrainConfig  # noqa: E402
from model.training.metrics import regression_metrics  # noqa: E402
from model.training.preparation import prepare  # noqa: E402
from model.training.trainer import learning_rate, train  # noqa: E402

TARGETS = ["U0", "gap"]


def kozo_config(minutes: float, sizes: list[int], output: Path) -> TrainConfig:
    return TrainConfig(data=["qm9"], targets=TARGETS, summed_targets=["U0"], architecture="painn",
                       features=128, interactions=3, cutoff=5.0, batch_size=32, epochs=100000,
                       learning_rate=5e-4, schedule="cosine", loss="l1", patience=100000,
                       time_limit=minutes, split_sizes=[str(s) for s in sizes], seed=0,
                       output=str(output), name="bench-qm9").validate()


def train_schnetpack(config: TrainConfig) -> tuple[dict, int, int]:
    """schnetpack's SchNet through the same batches, loss, optimiser and schedule."""
    run = prepare(config)
    graphs, splits, specs = run.graphs, run.splits, run.specs
    torch.manual_seed(config.seed)
    model = schnetpack_peer.build(specs, config.cutoff)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    generator = np.random.default_rng(config.seed)
    started, epoch, best, best_state = time.monotonic(), 0, np.inf, None
    while time.monotonic() - started < 60 * config.time_limit:
        epoch += 1
        rate = learning_rate(config, epoch, (time.monotonic() - started) / (60 * config.time_limit))
        for group in optimizer.param_groups:
            group["lr"] = rate
        model.train()
        order = generator.permutation(splits["train"])
        for k in range(0, len(order), config.batch_size):
            batch = collate(graphs, order[k:k + config.batch_size])
            targets = schnetpack_peer.normalised_targets(batch, specs)
            counts = torch.bincount(batch.graph_index, minlength=batch.n_graphs)
            predicted = model(schnetpack_peer.inputs(batch))
            loss = sum(((predicted[s.name] - targets[s.name])
                        / (counts if s.aggregation == "sum" else 1.0)).abs().mean()
                       for s in specs) / len(specs)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        validation = score(model, graphs, splits["val"], specs, config.batch_size)
        normalised = np.mean([validation[s.name]["mae"] / s.std for s in specs])
        if normalised < best:
            best, best_state = normalised, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    parameters = sum(p.numel() for p in model.parameters())
    return score(model, graphs, splits["test"], specs, config.batch_size), epoch, parameters


def score(model, graphs, indices, specs, batch_size) -> dict:
    model.eval()
    parts = {s.name: [] for s in specs}
    for k in range(0, len(indices), batch_size):
        batch = collate(graphs, indices[k:k + batch_size])
        predicted = schnetpack_peer.denormalise(model(schnetpack_peer.inputs(batch)), batch, specs)
        for name in parts:
            parts[name].append(predicted[name])
    return {name: regression_metrics(np.concatenate(values), graphs.targets[name][indices])
            for name, values in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model")
    parser.add_argument("--sizes", type=int, nargs=3, default=[10000, 1000, 10000],
                        metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "bench-qm9")
    args = parser.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()  # for both sides alike (kozo's train() would set it for itself)
    config = kozo_config(args.minutes, args.sizes, args.output / "kozo")
    ours = train(config, show_progress=False)
    kozo_parameters = sum(p.numel() for p in torch.load(args.output / "kozo" / "best.pt").values())
    theirs, their_epochs, their_parameters = train_schnetpack(config)
    print(f"# QM9 {args.sizes[0]}/{args.sizes[1]}/{args.sizes[2]} split (seed 0), "
          f"{args.minutes:g} min of one CPU thread each; schnetpack {schnetpack_peer.version()}, "
          f"torch {torch.__version__}")
    print(f"{'model':<24} {'parameters':>10} {'epochs':>7} {'U0 MAE meV':>11} {'gap MAE meV':>12}")
    for label, metrics, epochs, parameters in (
            ("kozo PaiNN", ours.metrics["test"], ours.epochs_run, kozo_parameters),
            (schnetpack_peer.name, theirs, their_epochs, their_parameters)):
        print(f"{label:<24} {parameters:>10} {epochs:>7} {1e3 * metrics['U0']['mae']:>11.1f} "
              f"{1e3 * metrics['gap']['mae']:>12.1f}")
    print(f"{'schnetpack/kozo MAE':<24} {'':>10} {'':>7} "
          f"{theirs['U0']['mae'] / ours.metrics['test']['U0']['mae']:>11.2f} "
          f"{theirs['gap']['mae'] / ours.metrics['test']['gap']['mae']:>12.2f}")


if __name__ == "__main__":
    main()
