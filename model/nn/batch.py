"""A batch of graphs as torch tensors, cut from a GraphSet.

Edge vectors are computed here from positions, integer cell shifts and cells,
D = r[j] - r[i] + S @ cell, so that they stay differentiable with respect to
positions and cells (for denoising pre-training and forces later).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.graph_cache import GraphSet


@dataclass
class GraphBatch:
    numbers: torch.Tensor  # [n_atoms] int64
    positions: torch.Tensor  # [n_atoms, 3] Å
    cells: torch.Tensor  # [n_graphs, 3, 3] Å
    graph_index: torch.Tensor  # [n_atoms] int64, graph of each atom
    edge_i: torch.Tensor  # [n_edges] int64, centre atom
    edge_j: torch.Tensor  # [n_edges] int64, neighbour atom
    cell_shifts: torch.Tensor  # [n_edges, 3] float, integer values
    targets: dict[str, torch.Tensor]  # name → [n_graphs]

    @property
    def n_graphs(self) -> int:
        return self.cells.shape[0]

    def edge_vectors(self) -> torch.Tensor:
        """D = r[j] - r[i] + S @ cell, [n_edges, 3] Å."""
        edge_graph = self.graph_index[self.edge_i]  # [n_edges]
        shift_vectors = torch.einsum("ek,ekc->ec", self.cell_shifts, self.cells[edge_graph])
        return self.positions[self.edge_j] - self.positions[self.edge_i] + shift_vectors


def collate(graphs: GraphSet, indices: np.ndarray, dtype: torch.dtype = torch.float32) -> GraphBatch:
    """The graphs at `indices` (into the GraphSet) as one batch, atoms renumbered from 0."""
    indices = np.asarray(indices, dtype=np.int64)
    atoms, edges = graphs.atoms_of(indices), graphs.edges_of(indices)
    counts = graphs.atom_counts[indices]
    # Edge endpoints move from the data set's atom numbering to the batch's: each structure's
    # atoms shift by (its first atom in the batch) - (its first atom in the data set).
    batch_starts = np.cumsum(counts) - counts
    edge_shift = np.repeat(batch_starts - graphs.atom_starts[indices], graphs.edge_counts[indices])
    graph_index = np.repeat(np.arange(len(indices)), counts)
    return GraphBatch(
        numbers=torch.from_numpy(graphs.numbers[atoms]),
        positions=torch.from_numpy(graphs.positions[atoms]).to(dtype),
        cells=torch.from_numpy(graphs.cells[indices]).to(dtype),
        graph_index=torch.from_numpy(graph_index),
        edge_i=torch.from_numpy(graphs.edge_i[edges] + edge_shift),
        edge_j=torch.from_numpy(graphs.edge_j[edges] + edge_shift),
        cell_shifts=torch.from_numpy(graphs.cell_shifts[edges]).to(dtype),
        targets={name: torch.from_numpy(values[indices]).to(dtype)
                 for name, values in graphs.targets.items()})
