"""Backbone plus property head: the module that is trained and exported."""

from __future__ import annotations

import torch
from torch import nn

from model.nn.batch import GraphBatch
from model.nn.readout import PropertyHead


class PropertyModel(nn.Module):
    """Tensors in, [n_graphs, n_targets] out: the signature the ONNX export keeps."""

    def __init__(self, backbone: nn.Module, head: PropertyHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, numbers: torch.Tensor, edge_i: torch.Tensor, edge_j: torch.Tensor,
                edge_vectors: torch.Tensor, graph_index: torch.Tensor,
                graph_template: torch.Tensor) -> torch.Tensor:
        features = self.backbone(numbers, edge_i, edge_j, edge_vectors)
        return self.head(features, numbers, graph_index, graph_template)

    def predict(self, batch: GraphBatch) -> dict[str, torch.Tensor]:
        """Named predictions for a batch, [n_graphs] each."""
        template = torch.zeros(batch.n_graphs, dtype=batch.positions.dtype)
        out = self(batch.numbers, batch.edge_i, batch.edge_j, batch.edge_vectors(),
                   batch.graph_index, template)
        return {target.name: out[:, k] for k, target in enumerate(self.head.targets)}
