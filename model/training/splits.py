"""Reproducible train/validation/test splits, recorded by sample id."""

from __future__ import annotations

import numpy as np


def random_split(n_samples: int, train_fraction: float, val_fraction: float, seed: int,
                 sizes: tuple[int, int, int] = (0, 0, 0)) -> dict[str, np.ndarray]:
    """Indices of each split, from a permutation fixed by the seed.

    Non-zero `sizes` (train, val, test counts) take precedence over the
    fractions, as in the usual QM9 protocol (e.g. 10k/1k/10k of 130k); the
    structures left over are not used.
    """
    order = np.random.default_rng(seed).permutation(n_samples)
    if any(sizes):
        n_train, n_val, n_test = sizes
        if n_train + n_val + n_test > n_samples:
            raise ValueError(f"split sizes {n_train}+{n_val}+{n_test} exceed the "
                             f"{n_samples} structures")
    else:
        n_train = int(round(train_fraction * n_samples))
        n_val = int(round(val_fraction * n_samples))
        n_test = n_samples - n_train - n_val
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:n_train + n_val + n_test])}
