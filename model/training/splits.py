"""Reproducible train/validation/test splits, recorded by sample id."""

from __future__ import annotations

import numpy as np


def random_split(n_samples: int, train_fraction: float, val_fraction: float,
                 seed: int) -> dict[str, np.ndarray]:
    """Indices of each split, from a permutation fixed by the seed."""
    order = np.random.default_rng(seed).permutation(n_samples)
    n_train = int(round(train_fraction * n_samples))
    n_val = int(round(val_fraction * n_samples))
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:])}
