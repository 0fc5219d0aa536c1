"""Heads for self-supervised pre-training: per-atom noise vectors and masked elements.

The noise head is built from gated equivariant blocks (Schütt, Unke & Gastegger,
ICML 2021, fig. 3): vector features are only mixed linearly over the feature
axis and scaled by gates computed from invariants, so the predicted vector
rotates with the structure.
"""

from __future__ import annotations

import torch
from torch import nn


class GatedEquivariantBlock(nn.Module):
    """(scalars [n, F_in], vectors [n, 3, F_in]) → (scalars [n, F_out], vectors [n, 3, F_out])."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, scalar_activation: bool) -> None:
        super().__init__()
        self.n_out = n_out
        self.mix = nn.Linear(n_in, 2 * n_out, bias=False)  # acts on the feature axis only
        self.gate = nn.Sequential(nn.Linear(n_in + n_out, n_hidden), nn.SiLU(),
                                  nn.Linear(n_hidden, 2 * n_out))
        self.activation = nn.SiLU() if scalar_activation else nn.Identity()

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_norm_part, v_out_part = torch.split(self.mix(v), self.n_out, dim=-1)  # [n, 3, F_out]
        norms = torch.sqrt((v_norm_part ** 2).sum(dim=1) + 1e-8)  # [n, F_out], invariant
        s_out, gates = torch.split(self.gate(torch.cat([s, norms], dim=-1)), self.n_out, dim=-1)
        return self.activation(s_out), gates[:, None, :] * v_out_part


class NoiseHead(nn.Module):
    """PaiNN features → one vector per atom [n_atoms, 3]: the predicted noise / σ."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        hidden = max(1, n_features // 2)
        self.blocks = nn.ModuleList([GatedEquivariantBlock(n_features, hidden, hidden, True),
                                     GatedEquivariantBlock(hidden, hidden, 1, False)])

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            s, v = block(s, v)
        return v[:, :, 0]


class ElementHead(nn.Module):
    """Scalar features [n_atoms, F] → logits over the element vocabulary [n_atoms, n_classes]."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_features, n_features), nn.SiLU(),
                                 nn.Linear(n_features, n_classes))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.mlp(s)
