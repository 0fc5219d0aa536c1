"""The periodic denoiser: a PaiNN on the neighbour list of the current noisy crystal.

Edges come from `kernels` (all images within the cutoff of the noisy structure),
and the network sees only distances and directions, so its per-atom outputs are
invariant to permutation and to the choice of unit cell, and its coordinate
output rotates with the crystal. (DiffCSP's fully connected graph of fractional
differences depends on the cell: a supercell changes both the set of pairs and
their Fourier features, so it fails the supercell test this form passes.)

Inputs per atom: element types as a (noisy, in de novo mode) one-hot vector over
the generator's vocabulary; per crystal: the diffusion time and the standardised
properties with their presence mask (all absent: unconditional).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from kernels import batched_neighbor_list
from model.nn.painn import PaiNNMessage, PaiNNUpdate, radial_inputs
from model.nn.radial import SineBasis, cosine_cutoff, edge_lengths


@dataclass
class DenoiserOutput:
    coordinate_vectors: torch.Tensor  # [n_atoms, 3] Cartesian, rotates with the crystal
    lattice: torch.Tensor  # [n_graphs, 6] predicted lattice noise (rotation invariant)
    types: torch.Tensor  # [n_atoms, n_types] predicted type noise


def time_features(t: torch.Tensor, n: int = 16) -> torch.Tensor:
    """Sinusoidal features of t ∈ [0, 1], [n_graphs] → [n_graphs, n]."""
    frequencies = torch.exp(torch.linspace(0.0, math.log(1000.0), n // 2, dtype=t.dtype))
    angles = t[:, None] * frequencies * math.pi
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def periodic_edges(fractional: torch.Tensor, cells: torch.Tensor, graph_index: torch.Tensor,
                   cutoff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Edge list of the current structures: (edge_i, edge_j, edge_vectors [n_edges, 3] Å),
    with D = (f_j − f_i + S) L, S the integer cell shifts found by `kernels`."""
    counts = torch.bincount(graph_index, minlength=cells.shape[0]).numpy()
    cells_np = cells.detach().double().numpy()
    positions = np.einsum("nk,nkc->nc", fractional.detach().double().numpy(),
                          cells_np[graph_index.numpy()])
    pairs = batched_neighbor_list(positions, cells_np, True, counts, cutoff)
    edge_i = torch.from_numpy(pairs.i.astype(np.int64))
    edge_j = torch.from_numpy(pairs.j.astype(np.int64))
    shifts = torch.from_numpy(pairs.S.astype(np.float64)).to(fractional.dtype)  # [E, 3]
    difference = fractional[edge_j] - fractional[edge_i] + shifts  # [E, 3] fractional
    vectors = torch.einsum("ek,ekc->ec", difference, cells[graph_index[edge_i]])  # [E, 3] Å
    return edge_i, edge_j, vectors


class PeriodicDenoiser(nn.Module):
    """Per-atom coordinate vectors and type noise, and per-crystal lattice noise."""

    def __init__(self, n_types: int, n_properties: int, n_features: int = 64,
                 n_layers: int = 3, n_basis: int = 20, cutoff: float = 6.0) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.n_features = n_features
        self.type_embedding = nn.Linear(n_types, n_features)
        self.time_embedding = nn.Sequential(nn.Linear(16, n_features), nn.SiLU(),
                                            nn.Linear(n_features, n_features))
        self.condition_embedding = nn.Linear(2 * n_properties, n_features, bias=False) \
            if n_properties else None
        self.basis = SineBasis(n_basis, cutoff)
        self.messages = nn.ModuleList(PaiNNMessage(n_features, n_basis) for _ in range(n_layers))
        self.updates = nn.ModuleList(PaiNNUpdate(n_features) for _ in range(n_layers))
        self.coordinate_head = nn.Linear(n_features, 1, bias=False)  # vectors stay equivariant
        self.type_head = nn.Sequential(nn.Linear(n_features, n_features), nn.SiLU(),
                                       nn.Linear(n_features, n_types))
        self.lattice_head = nn.Sequential(nn.Linear(n_features + 6, n_features), nn.SiLU(),
                                          nn.Linear(n_features, 6))

    def forward(self, fractional: torch.Tensor, cells: torch.Tensor, type_vectors: torch.Tensor,
                graph_index: torch.Tensor, t: torch.Tensor, properties: torch.Tensor,
                present: torch.Tensor, lattice_vectors: torch.Tensor) -> DenoiserOutput:
        """fractional [n_atoms, 3], cells [n_graphs, 3, 3] Å, type_vectors [n_atoms, n_types],
        t [n_graphs], properties and present [n_graphs, n_properties] (present 0/1),
        lattice_vectors [n_graphs, 6] (standardised noisy lattice, for the lattice head)."""
        edge_i, edge_j, vectors = periodic_edges(fractional, cells, graph_index, self.cutoff)
        distances = edge_lengths(vectors)  # [E] Å
        directions = vectors / distances[:, None]  # [E, 3]
        radial = radial_inputs(self.basis(distances), cosine_cutoff(distances, self.cutoff))
        conditions = torch.cat([torch.nan_to_num(properties) * present, present], dim=-1)
        per_graph = self.time_embedding(time_features(t))  # [n_graphs, F]
        if self.condition_embedding is not None:
            per_graph = per_graph + self.condition_embedding(conditions)
        s = self.type_embedding(type_vectors) + per_graph[graph_index]  # [n_atoms, F]
        v = None  # [n_atoms, 3, F] zeros: the first message skips them
        for message, update in zip(self.messages, self.updates, strict=True):
            s, v = message(s, v, edge_i, edge_j, radial, directions)
            s, v = update(s, v)
        counts = torch.bincount(graph_index, minlength=cells.shape[0]).clamp_min(1)
        pooled = torch.zeros(cells.shape[0], self.n_features, dtype=s.dtype).index_add(
            0, graph_index, s) / counts[:, None]  # [n_graphs, F], mean: same for a supercell
        return DenoiserOutput(
            coordinate_vectors=self.coordinate_head(v).squeeze(-1),
            lattice=self.lattice_head(torch.cat([pooled, lattice_vectors], dim=-1)),
            types=self.type_head(s))
