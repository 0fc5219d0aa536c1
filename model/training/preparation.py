"""Everything a run derives from its configuration before the first step.

Data, graphs, splits, the elements seen in training and the target
normalisation are all fixed by the configuration (and the seed), so training
and a later `kozo model export` of the same run derive the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.datasets import Dataset, read_dataset
from model.graph_cache import GraphSet, load_or_build_graphs
from model.nn.readout import TargetSpec
from model.training.config import ConfigError, TrainConfig
from model.training.normalisation import target_specs
from model.training.splits import extrapolation_split, random_split


@dataclass
class PreparedRun:
    dataset: Dataset
    graphs: GraphSet
    splits: dict[str, np.ndarray]  # train/val/test (+ test_low/test_high) → indices into graphs
    elements: list[int]  # atomic numbers in the training split
    specs: list[TargetSpec]


def prepare(config: TrainConfig) -> PreparedRun:
    dataset = read_dataset(config.data, limit=config.limit or None)
    missing = [t for t in config.targets if t not in dataset.units]
    if missing:
        raise ConfigError(f"{', '.join(config.data)} has no target {missing}; it has "
                          f"{', '.join(dataset.target_names)}")
    graphs = load_or_build_graphs(dataset, config.cutoff, Path(config.cache_dir))
    sizes = tuple(int(s) for s in config.split_sizes) or (0, 0, 0)
    try:
        if config.split == "extrapolation":
            splits = extrapolation_split(graphs.targets[config.tail_target],
                                         tuple(config.tail_percentiles), config.train_fraction,
                                         config.val_fraction, config.split_rng_seed)
        else:
            splits = random_split(len(graphs), config.train_fraction, config.val_fraction,
                                  config.split_rng_seed, sizes)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if config.train_limit:
        splits["train"] = limited(splits["train"], config.train_limit, config.split_rng_seed)
    tails_empty = [name for name in ("test_low", "test_high")
                   if name in splits and len(splits[name]) == 0]
    if len(tails_empty) == 1:  # a target whose minimum (or maximum) is shared by more than
        del splits[tails_empty[0]]  # the tail's share, e.g. band gaps mostly 0: one tail only
    empty = [name for name, indices in splits.items() if len(indices) == 0]
    if empty:
        hint = " or tail_percentiles further from 0 and 100" if \
            {"test_low", "test_high"} & set(empty) else ""
        raise ConfigError(f"{len(graphs)} structures leave an empty split ({', '.join(empty)}); "
                          f"use more data{hint}")
    elements = sorted(int(z) for z in np.unique(graphs.numbers[graphs.atoms_of(splits["train"])]))
    specs = target_specs(graphs, splits["train"], config.targets, config.summed_targets,
                         dataset.units, elements)
    return PreparedRun(dataset, graphs, splits, elements, specs)


def limited(train: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` of the training indices drawn at random (sorted), for learning curves: the
    validation and test splits stay those of the full run, so the points compare."""
    if count > len(train):
        raise ConfigError(f"train_limit {count} exceeds the {len(train)} structures of the "
                          f"train split")
    return np.sort(np.random.default_rng([seed, count]).choice(train, count, replace=False))
