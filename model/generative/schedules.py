"""Noise levels as functions of diffusion time t ∈ [0, 1] (0: data, 1: prior)."""

from __future__ import annotations

import math

import torch


def coordinate_sigma(t: torch.Tensor, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Geometric σ(t) of the fractional-coordinate noise (VE SDE, Song et al. 2021;
    DiffCSP uses 0.005 → 0.5). Fractional units."""
    return sigma_min * (sigma_max / sigma_min) ** t


def alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """Cosine schedule ᾱ(t) (Nichol & Dhariwal 2021) for the lattice and the types,
    clamped so that t = 1 is pure prior and t = 0 keeps the data."""
    s = 0.008
    value = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    return value.clamp(1e-5, 0.9999)
