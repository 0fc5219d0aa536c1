"""Regression metrics over the samples that have a value, and errors per shot group.

Shot groups follow Yang et al., "Delving into Deep Imbalanced Regression", ICML 2021:
a test value is many-shot, medium-shot or few-shot by how many training labels share
its bin, so that the error on rare values is not hidden in the mean.
"""

from __future__ import annotations

import numpy as np


def regression_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² and n over finite targets."""
    known = np.isfinite(actual)
    error = predicted[known] - actual[known]
    n = int(known.sum())
    if n == 0:
        return {"mae": float("nan"), "rmse": float("nan"), "r2": float("nan"), "n": 0}
    spread = ((actual[known] - actual[known].mean()) ** 2).sum()
    r2 = 1.0 - (error ** 2).sum() / spread if spread > 0 else float("nan")
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error ** 2).mean())),
            "r2": float(r2), "n": n}


def rank_correlation(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Spearman's ρ over finite targets: does the model order the values right, even where
    (in a tail) their scale is off? NaN with fewer than 2 values or a constant side."""
    from scipy.stats import spearmanr

    known = np.isfinite(actual)
    if known.sum() < 2 or np.ptp(actual[known]) == 0 or np.ptp(predicted[known]) == 0:
        return float("nan")
    return float(spearmanr(predicted[known], actual[known]).statistic)


SHOT_GROUPS = ("many", "medium", "few")


def shot_groups(actual: np.ndarray, train_values: np.ndarray, n_bins: int,
                thresholds: tuple[float, float]) -> np.ndarray:
    """The shot group of each test value, [n] str ("" for a missing value).

    Bins are `n_bins` equal widths over the training-label range, continued with the same
    width outside it (where they hold no training label: a tail value is few-shot). A value
    whose bin holds more than thresholds[1] training labels is many-shot, fewer than
    thresholds[0] few-shot, medium otherwise.
    """
    train_values = train_values[np.isfinite(train_values)]
    low, high = float(train_values.min()), float(train_values.max())
    width = (high - low) / n_bins if high > low else 1.0
    train_bins = np.minimum(((train_values - low) / width).astype(np.int64), n_bins - 1)
    counts = np.bincount(train_bins, minlength=n_bins)  # [n_bins]
    groups = np.full(len(actual), "", dtype=object)
    known = np.isfinite(actual)
    position = np.floor((actual[known] - low) / width)
    position[(actual[known] <= high) & (position >= n_bins)] = n_bins - 1  # top edge: last bin
    inside = (position >= 0) & (position < n_bins)
    in_bin = np.zeros(len(position), dtype=np.int64)
    in_bin[inside] = counts[position[inside].astype(np.int64)]
    few, many = thresholds
    groups[known] = np.where(in_bin > many, "many", np.where(in_bin < few, "few", "medium"))
    return groups


def shot_metrics(predicted: np.ndarray, actual: np.ndarray, train_values: np.ndarray,
                 n_bins: int, thresholds: tuple[float, float]) -> dict[str, dict[str, float]]:
    """MAE and count of each shot group: group → {"mae", "n"} (MAE NaN for an empty group)."""
    groups = shot_groups(actual, train_values, n_bins, thresholds)
    result = {}
    for group in SHOT_GROUPS:
        chosen = groups == group
        result[group] = {"mae": float(np.abs(predicted[chosen] - actual[chosen]).mean())
                         if chosen.any() else float("nan"), "n": int(chosen.sum())}
    return result
