"""Loss terms for imbalanced targets: LDS sample weights and Balanced MSE.

Label-distribution smoothing (LDS, Yang et al., "Delving into Deep Imbalanced
Regression", ICML 2021): the label histogram over the training split, smoothed
with a Gaussian kernel because neighbouring labels inform each other, gives
each sample an effective density; its weight is density ** -power, scaled to
mean 1 over the training labels, so that rare values count more and the
learning rate keeps its meaning.

Balanced MSE (Ren et al., "Balanced MSE for Imbalanced Visual Regression",
CVPR 2022), batch-based Monte-Carlo form (BMC): for predictions p and labels y
of a batch, logits[i, j] = -(p_i - y_j)² / 2σ², loss = 2σ² · cross-entropy
with the diagonal as the right class. It is the likelihood under a balanced
label prior, estimated with the batch's own labels; σ is fixed or learned.

Several targets: each target has its own LDS weights, from its own labels,
and its own σ; both see the target as its loss does, in normalised units
(value per atom / std for summed targets, (value - mean) / std for averaged
ones), so that a summed energy's rare values are rare chemistry, not rare
sizes, and one σ default suits every target. The loss stays the mean over
targets. (Tails and shot groups, which are reported, use the label as given.)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def lds_weights(train_values: np.ndarray, values: np.ndarray, *, n_bins: int,
                kernel_size: int, sigma: float, power: float) -> np.ndarray:
    """LDS weight of each of `values` [n] (NaN for a missing value), from `train_values`.

    Bins are `n_bins` equal widths over the training range (values outside fall in the
    edge bins); the kernel is exp(-k² / 2σ²) for k = -(size // 2) .. size // 2 bins, with
    zeros beyond the range. Weights are scaled so their mean over the training labels is 1.
    """
    train_values = train_values[np.isfinite(train_values)]
    low, high = float(train_values.min()), float(train_values.max())
    width = (high - low) / n_bins if high > low else 1.0

    def bin_of(x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((x - low) / width), 0, n_bins - 1).astype(np.int64)

    histogram = np.bincount(bin_of(train_values), minlength=n_bins).astype(np.float64)
    half = kernel_size // 2
    kernel = np.exp(-np.arange(-half, half + 1) ** 2 / (2 * sigma ** 2))  # [kernel_size]
    density = np.convolve(histogram, kernel, mode="same")  # [n_bins]
    raw = density.clip(min=1e-12) ** -power
    scale = raw[bin_of(train_values)].mean()
    weights = np.full(len(values), np.nan)
    known = np.isfinite(values)
    weights[known] = raw[bin_of(values[known])] / scale
    return weights


def balanced_mse(predicted: torch.Tensor, actual: torch.Tensor, noise_variance: torch.Tensor
                 ) -> torch.Tensor:
    """BMC loss per sample, [n]: 2σ² · (-log softmax_j(-(p_i - y_j)² / 2σ²))[i, i].

    predicted, actual [n] in normalised units; noise_variance σ² a scalar tensor. The
    factor 2σ² is detached, as in the authors' code, so that a learned σ is driven by
    the likelihood alone.
    """
    logits = -(predicted[:, None] - actual[None, :]) ** 2 / (2 * noise_variance)  # [n, n]
    per_sample = nn.functional.cross_entropy(
        logits, torch.arange(len(predicted)), reduction="none")  # [n]
    return per_sample * (2 * noise_variance).detach()


class NoiseScales(nn.Module):
    """One BMC label-noise σ per target (normalised units); learned when asked, else fixed."""

    def __init__(self, n_targets: int, sigma: float, learn: bool) -> None:
        super().__init__()
        initial = torch.full((n_targets,), float(sigma))
        if learn:
            self.sigma = nn.Parameter(initial)
        else:
            self.register_buffer("sigma", initial)

    def variance(self, target: int) -> torch.Tensor:
        return self.sigma[target] ** 2
