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


def radial_inputs(basis: torch.Tensor, envelope: torch.Tensor) -> torch.Tensor:
    """[E, B + 1]: the basis times the envelope, and the envelope itself as a last column,
    so that one product with [W, b] gives envelope · (basis W + b). The same for every
    message layer: computed once per forward."""
    return torch.cat([basis * envelope[:, None], envelope[:, None]], dim=-1)


class PaiNNMessage(nn.Module):
    """Scalar and vector messages from neighbours j to atom i, summed per atom.

    Written for the quick check's speed: the per-edge filter [E, 3F] is never built and
    split (onnxruntime copies every Split output); each of its three parts comes from
    its own slice of the weights. The envelope enters the radial filter through
    `radial_inputs`, which multiplies the bias too, so no [E, 3F] product is spent on it.
    With `v` None (all zeros, the first layer) the v_j term is skipped: it is zero.
    """

    def __init__(self, n_features: int, n_basis: int) -> None:
        super().__init__()
        self.n_features = n_features
        self.scalar_filter = nn.Sequential(nn.Linear(n_features, n_features), nn.SiLU(),
                                           nn.Linear(n_features, 3 * n_features))
        self.radial_filter = nn.Linear(n_basis, 3 * n_features)

    def forward(self, s, v, edge_i, edge_j, radial, directions):
        # s [n_atoms, F], v [n_atoms, 3, F] or None (zeros), radial [n_edges, B + 1] from
        # radial_inputs, directions [n_edges, 3] unit vectors from i to j
        n = self.n_features
        filters = self.scalar_filter(s)  # [n_atoms, 3F]: sliced here, on atoms, not edges
        radial_weights = torch.cat([self.radial_filter.weight, self.radial_filter.bias[:, None]],
                                   dim=-1)  # [3F, B + 1]

        def part(k: int) -> torch.Tensor:  # [E, F]; index_select exports as Gather
            return (filters[:, k * n:(k + 1) * n].index_select(0, edge_j)
                    * nn.functional.linear(radial, radial_weights[k * n:(k + 1) * n]))

        dv = directions[:, :, None] * part(2)[:, None, :]  # [E, 3, F]
        if v is None:
            v = torch.zeros(s.shape[0], 3, n, dtype=s.dtype, device=s.device)
        else:
            dv = dv + v.index_select(0, edge_j) * part(1)[:, None, :]
        return s.index_add(0, edge_i, part(0)), v.index_add(0, edge_i, dv)


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
        radial = radial_inputs(self.basis(distances), cosine_cutoff(distances, self.cutoff))
        s = self.embedding(numbers)  # [n_atoms, F]
        v = None  # zeros: the first message skips them
        for message, update in zip(self.messages, self.updates, strict=True):
            s, v = message(s, v, edge_i, edge_j, radial, directions)
            s, v = update(s, v)
        return s, v
