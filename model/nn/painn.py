"""PaiNN: polarizable atom interaction neural network (equivariant message passing).

Schütt, Unke & Gastegger, "Equivariant message passing for the prediction of
tensorial properties and molecular spectra", ICML 2021. Scalar features s and
vector features v per atom; messages depend on distances and directions, so
outputs are invariant to rotation and translation. Aggregation is a sum through
index_add, which exports to ONNX (max-style scatter does not).
"""

from __future__ import annotations

import torch
from torch import nn

from model.nn.radial import SineBasis, cosine_cutoff, edge_lengths

MAX_ATOMIC_NUMBER = 100


class PaiNNMessage(nn.Module):
    def __init__(self, n_features: int, n_basis: int) -> None:
        super().__init__()
        self.n_features = n_features
        self.scalar_filter = nn.Sequential(nn.Linear(n_features, n_features), nn.SiLU(),
                                           nn.Linear(n_features, 3 * n_features))
        self.radial_filter = nn.Linear(n_basis, 3 * n_features)

    def forward(self, s, v, edge_i, edge_j, basis, envelope, directions):
        # s [n_atoms, F], v [n_atoms, 3, F], basis [n_edges, B], envelope [n_edges],
        # directions [n_edges, 3] unit vectors from i to j
        x = (self.scalar_filter(s).index_select(0, edge_j)  # index_select exports as Gather, not GatherND
             * (self.radial_filter(basis) * envelope[:, None]))  # [E, 3F]
        ds, dv_v, dv_s = torch.split(x, self.n_features, dim=-1)  # each [E, F]
        dv = (v.index_select(0, edge_j) * dv_v[:, None, :]
              + directions[:, :, None] * dv_s[:, None, :])  # [E, 3, F]
        s = s.index_add(0, edge_i, ds)
        v = v.index_add(0, edge_i, dv)
        return s, v


class PaiNNUpdate(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.n_features = n_features
        self.mix = nn.Linear(n_features, 2 * n_features, bias=False)
        self.gate = nn.Sequential(nn.Linear(2 * n_features, n_features), nn.SiLU(),
                                  nn.Linear(n_features, 3 * n_features))

    def forward(self, s, v):
        u, w = torch.split(self.mix(v), self.n_features, dim=-1)  # [n_atoms, 3, F] each
        w_norm = torch.sqrt((w * w).sum(dim=1) + 1e-8)  # [n_atoms, F]
        a = self.gate(torch.cat([s, w_norm], dim=-1))
        a_vv, a_sv, a_ss = torch.split(a, self.n_features, dim=-1)
        v = v + a_vv[:, None, :] * u
        s = s + a_ss + a_sv * (u * w).sum(dim=1)
        return s, v


class PaiNN(nn.Module):
    """Backbone: atomic numbers and edge vectors → per-atom scalar features [n_atoms, F];
    `features` also gives the vector features."""

    def __init__(self, n_features: int = 64, n_interactions: int = 3, n_basis: int = 20,
                 cutoff: float = 5.0) -> None:
        super().__init__()
        self.n_features = n_features
        self.cutoff = cutoff
        self.embedding = nn.Embedding(MAX_ATOMIC_NUMBER + 1, n_features)
        self.basis = SineBasis(n_basis, cutoff)
        self.messages = nn.ModuleList(PaiNNMessage(n_features, n_basis)
                                      for _ in range(n_interactions))
        self.updates = nn.ModuleList(PaiNNUpdate(n_features) for _ in range(n_interactions))

    def forward(self, numbers: torch.Tensor, edge_i: torch.Tensor, edge_j: torch.Tensor,
                edge_vectors: torch.Tensor) -> torch.Tensor:
        return self.features(numbers, edge_i, edge_j, edge_vectors)[0]

    def features(self, numbers: torch.Tensor, edge_i: torch.Tensor, edge_j: torch.Tensor,
                 edge_vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scalar features [n_atoms, F] (invariant) and vector features [n_atoms, 3, F]
        (rotate with the structure), for heads that predict vectors (denoising).
        Atomic number 0 is never an element: pre-training uses it as the mask token."""
        distances = edge_lengths(edge_vectors)  # [E]
        directions = edge_vectors / distances[:, None]  # [E, 3]
        basis = self.basis(distances)  # [E, B]
        envelope = cosine_cutoff(distances, self.cutoff)  # [E]
        s = self.embedding(numbers)  # [n_atoms, F]
        v = torch.zeros(s.shape[0], 3, self.n_features, dtype=s.dtype, device=s.device)
        for message, update in zip(self.messages, self.updates, strict=True):
            s, v = message(s, v, edge_i, edge_j, basis, envelope, directions)
            s, v = update(s, v)
        return s, v
