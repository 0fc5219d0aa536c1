"""The mean of several property models: one ONNX graph, one artifact.

Models trained alike on the same split from different initialisations make
partly independent errors, so their mean predicts better than any one of
them (the usual deep-ensemble gain). Exported as one graph, the ensemble is a
drop-in artifact: the engine, `kozo predict` and the Pi see no difference,
only a quick check that takes as many times longer as there are members.
"""

from __future__ import annotations

import torch
from torch import nn

from model.nn.property_model import PropertyModel
from model.nn.readout import PropertyHead


class EnsembleModel(PropertyModel):
    """Same signature as PropertyModel; the members must share targets and normalisation."""

    def __init__(self, members: list[PropertyModel]) -> None:
        nn.Module.__init__(self)  # no backbone or head of its own: the members hold them
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members; got {len(members)}")
        self.members = nn.ModuleList(members)

    @property
    def head(self) -> PropertyHead:
        """The first member's head: it names the targets, which all members share."""
        return self.members[0].head

    def forward(self, numbers: torch.Tensor, edge_i: torch.Tensor, edge_j: torch.Tensor,
                edge_vectors: torch.Tensor, graph_index: torch.Tensor,
                graph_template: torch.Tensor) -> torch.Tensor:
        outputs = [member(numbers, edge_i, edge_j, edge_vectors, graph_index, graph_template)
                   for member in self.members]
        return torch.stack(outputs).mean(dim=0)
