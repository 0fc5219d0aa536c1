"""Radial basis and cutoff envelope shared by the networks."""

from __future__ import annotations

import math

import torch
from torch import nn


class SineBasis(nn.Module):
    """sin(n π d / cutoff) / d, n = 1..n_basis (PaiNN, DimeNet)."""

    def __init__(self, n_basis: int, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.register_buffer("frequencies", torch.arange(1, n_basis + 1) * math.pi / cutoff)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:  # [n_edges] → [n_edges, n_basis]
        d = distances.unsqueeze(-1)
        return torch.sin(self.frequencies * d) / d.clamp_min(1e-9)


class GaussianBasis(nn.Module):
    """Gaussians on an even grid from 0 to the cutoff (SchNet)."""

    def __init__(self, n_basis: int, cutoff: float) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, cutoff, n_basis))
        self.width = cutoff / max(1, n_basis - 1)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:  # [n_edges] → [n_edges, n_basis]
        return torch.exp(-0.5 * ((distances.unsqueeze(-1) - self.centres) / self.width) ** 2)


def cosine_cutoff(distances: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Smooth envelope: 1 at d=0, 0 (with zero slope) at d=cutoff. [n_edges]"""
    envelope = 0.5 * (torch.cos(distances * math.pi / cutoff) + 1.0)
    return envelope * (distances < cutoff).to(distances.dtype)


def edge_lengths(edge_vectors: torch.Tensor) -> torch.Tensor:
    """|D| per edge, [n_edges] Å; the epsilon keeps the gradient finite at d = 0."""
    return torch.sqrt((edge_vectors * edge_vectors).sum(dim=-1) + 1e-12)
