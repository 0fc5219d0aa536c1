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


def extrapolation_split(values: np.ndarray, tail_percentiles: tuple[float, float],
                        train_fraction: float, val_fraction: float, seed: int
                        ) -> dict[str, np.ndarray]:
    """Train and validate on the centre of a target's distribution, test on its tails.

    `values` [n_samples] is the target that defines the tails. Samples strictly below its
    `tail_percentiles[0]`-th percentile (numpy's linear interpolation) form test_low, strictly
    above the `tail_percentiles[1]`-th form test_high. The centre (bounds included, and the
    samples without a value, which no tail can claim) is split at random as `random_split`
    does: train, val and test, the last being the in-distribution reference. A model never
    sees a tail value, so the tails measure extrapolation beyond the training range.
    """
    values = np.asarray(values, dtype=np.float64)
    low_percentile, high_percentile = tail_percentiles
    if not 0 <= low_percentile < high_percentile <= 100:
        raise ValueError(f"tail_percentiles must be two percentiles 0 <= low < high <= 100; "
                         f"got {low_percentile}, {high_percentile}")
    known = np.isfinite(values)
    if known.sum() < 2:
        raise ValueError("an extrapolation split needs at least 2 labelled structures")
    low_bound, high_bound = np.percentile(values[known], [low_percentile, high_percentile])
    with np.errstate(invalid="ignore"):
        low = np.flatnonzero(known & (values < low_bound))
        high = np.flatnonzero(known & (values > high_bound))
    centre = np.setdiff1d(np.arange(len(values)), np.concatenate([low, high]))
    inner = random_split(len(centre), train_fraction, val_fraction, seed)
    return {name: centre[indices] for name, indices in inner.items()} | {
        "test_low": low, "test_high": high}
