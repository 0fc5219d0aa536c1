"""Multi-target property head: per-atom outputs, scaled, summed or averaged per graph.

Targets are learned in normalised units: the head multiplies by the target's
standard deviation and adds its mean (per atom for summed, extensive targets,
per graph for averaged, intensive ones), plus optional per-element reference
energies, so that the backbone sees targets of order one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from model.nn.painn import MAX_ATOMIC_NUMBER


@dataclass
class TargetSpec:
    name: str
    unit: str = ""
    aggregation: str = "mean"  # "mean" (intensive, e.g. a gap) or "sum" (extensive, an energy)
    mean: float = 0.0  # per atom for "sum", per graph for "mean"
    std: float = 1.0
    atom_reference: dict[int, float] = field(default_factory=dict)  # Z → value, "sum" only

    def __post_init__(self) -> None:
        if self.aggregation not in ("mean", "sum"):
            raise ValueError(f"aggregation must be 'mean' or 'sum'; got {self.aggregation!r}")
        if not self.std > 0:
            raise ValueError(f"std of target {self.name!r} must be positive; got {self.std!r}")


class PropertyHead(nn.Module):
    def __init__(self, n_features: int, targets: list[TargetSpec]) -> None:
        super().__init__()
        self.targets = list(targets)
        n_targets = len(self.targets)
        self.mlp = nn.Sequential(nn.Linear(n_features, n_features // 2), nn.SiLU(),
                                 nn.Linear(n_features // 2, n_targets))
        self.register_buffer("scale", torch.tensor([t.std for t in targets]))
        self.register_buffer("shift", torch.tensor([t.mean for t in targets]))
        self.register_buffer("is_sum", torch.tensor([t.aggregation == "sum" for t in targets]))
        reference = torch.zeros(MAX_ATOMIC_NUMBER + 1, n_targets)
        for k, target in enumerate(targets):
            for z, value in target.atom_reference.items():
                reference[z, k] = value
        self.register_buffer("atom_reference", reference)

    def forward(self, features: torch.Tensor, numbers: torch.Tensor,
                graph_index: torch.Tensor, graph_template: torch.Tensor) -> torch.Tensor:
        """[n_atoms, F] features → [n_graphs, n_targets]; graph_template is any [n_graphs] tensor."""
        per_atom = self.mlp(features) * self.scale  # [n_atoms, T]
        per_atom = per_atom + torch.where(self.is_sum, self.shift, torch.zeros_like(self.shift))
        per_atom = per_atom + self.atom_reference[numbers] * self.is_sum.to(per_atom.dtype)
        n_targets = per_atom.shape[1]
        zeros = torch.zeros(graph_template.shape[0], n_targets, dtype=per_atom.dtype,
                            device=per_atom.device)
        sums = zeros.index_add(0, graph_index, per_atom)  # [n_graphs, T]
        counts = torch.zeros(graph_template.shape[0], dtype=per_atom.dtype,
                             device=per_atom.device).index_add(
            0, graph_index, torch.ones_like(graph_index, dtype=per_atom.dtype))
        means = sums / counts.clamp_min(1.0)[:, None] + torch.where(
            self.is_sum, torch.zeros_like(self.shift), self.shift)
        return torch.where(self.is_sum, sums, means)
