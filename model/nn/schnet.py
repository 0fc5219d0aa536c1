"""SchNet: continuous-filter convolutions on distances, the invariant baseline.

Schütt et al., "SchNet – a deep learning architecture for molecules and
materials", J. Chem. Phys. 148, 241722 (2018). Same interface as PaiNN, so the
experiments can swap one for the other.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from model.nn.painn import MAX_ATOMIC_NUMBER
from model.nn.radial import GaussianBasis, cosine_cutoff, edge_lengths


class ShiftedSoftplus(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(x) - math.log(2.0)


class SchNetInteraction(nn.Module):
    def __init__(self, n_features: int, n_basis: int) -> None:
        super().__init__()
        self.filter = nn.Sequential(nn.Linear(n_basis, n_features), ShiftedSoftplus(),
                                    nn.Linear(n_features, n_features))
        self.into = nn.Linear(n_features, n_features, bias=False)
        self.out = nn.Sequential(nn.Linear(n_features, n_features), ShiftedSoftplus(),
                                 nn.Linear(n_features, n_features))

    def forward(self, h, edge_i, edge_j, basis, envelope):
        messages = (self.into(h).index_select(0, edge_j)
                    * (self.filter(basis) * envelope[:, None]))  # [E, F]
        return h + self.out(torch.zeros_like(h).index_add(0, edge_i, messages))


class SchNet(nn.Module):
    """Backbone: atomic numbers and edge vectors → per-atom features [n_atoms, F]."""

    def __init__(self, n_features: int = 64, n_interactions: int = 3, n_basis: int = 25,
                 cutoff: float = 5.0) -> None:
        super().__init__()
        self.n_features = n_features
        self.cutoff = cutoff
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, n_features)
        self.basis = GaussianBasis(n_basis, cutoff)
        self.interactions = nn.ModuleList(SchNetInteraction(n_features, n_basis)
                                          for _ in range(n_interactions))

    def forward(self, numbers: torch.Tensor, edge_i: torch.Tensor, edge_j: torch.Tensor,
                edge_vectors: torch.Tensor) -> torch.Tensor:
        distances = edge_lengths(edge_vectors)  # [E]
        basis = self.basis(distances)
        envelope = cosine_cutoff(distances, self.cutoff)
        h = self.embedding(numbers)
        for interaction in self.interactions:
            h = interaction(h, edge_i, edge_j, basis, envelope)
        return h
