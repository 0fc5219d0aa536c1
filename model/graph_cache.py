"""Periodic graphs of a whole data set, built once and cached on disk.

Edges come from the batched neighbour list in `kernels`, so training, the hub
and the Pi see the same graphs. The cache file is named by the data set's
fingerprint, the cutoff and the format version: it is rebuilt exactly when one
of them changes, and written atomically so that an interrupted build leaves
no half file behind.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernels import batched_neighbor_list
from model.datasets import Dataset
from model.datasets.progress import progress

GRAPH_FORMAT_VERSION = 1
STRUCTURES_PER_CALL = 512  # one batched neighbour-list call per block, for the progress bar


@dataclass
class GraphSet:
    """All structures of a data set as one concatenated graph."""

    ids: list[str]  # [n_structures]
    numbers: np.ndarray  # [n_atoms] int64, atomic numbers
    positions: np.ndarray  # [n_atoms, 3] Å
    cells: np.ndarray  # [n_structures, 3, 3] Å, rows are lattice vectors
    atom_counts: np.ndarray  # [n_structures] int64
    edge_i: np.ndarray  # [n_edges] int64, centre atom (index into all atoms)
    edge_j: np.ndarray  # [n_edges] int64, neighbour atom
    cell_shifts: np.ndarray  # [n_edges, 3] int32, integer cell shifts S
    edge_counts: np.ndarray  # [n_structures] int64
    targets: dict[str, np.ndarray]  # name → [n_structures]
    cutoff: float  # Å

    def __len__(self) -> int:
        return len(self.ids)

    @functools.cached_property
    def atom_starts(self) -> np.ndarray:
        """[n_structures + 1] offset of each structure's first atom; computed once."""
        return np.concatenate([[0], np.cumsum(self.atom_counts)]).astype(np.int64)

    @functools.cached_property
    def edge_starts(self) -> np.ndarray:
        """[n_structures + 1] offset of each structure's first edge; computed once."""
        return np.concatenate([[0], np.cumsum(self.edge_counts)]).astype(np.int64)

    def atoms_of(self, indices: np.ndarray) -> np.ndarray:
        """Indices of the atoms of the structures at `indices`, in order."""
        return _ranges(self.atom_starts, np.asarray(indices, dtype=np.int64))

    def edges_of(self, indices: np.ndarray) -> np.ndarray:
        """Indices of the edges of the structures at `indices`, in order."""
        return _ranges(self.edge_starts, np.asarray(indices, dtype=np.int64))


def _ranges(starts: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Concatenated arange(starts[g], starts[g + 1]) for g in indices, without a Python loop."""
    lengths = starts[indices + 1] - starts[indices]
    offsets = np.repeat(starts[indices] - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(lengths.sum(), dtype=np.int64) + offsets


def build_graphs(dataset: Dataset, cutoff: float) -> GraphSet:
    """Neighbour-list graphs of every sample, by blocks of batched calls."""
    structures = [sample.structure for sample in dataset.samples]
    atom_counts = np.array([len(s.numbers) for s in structures], dtype=np.int64)
    positions = np.concatenate([s.positions for s in structures]).reshape(-1, 3)
    cells = np.stack([s.cell for s in structures]) if structures else np.zeros((0, 3, 3))
    pbcs = np.stack([s.pbc for s in structures]) if structures else np.zeros((0, 3), bool)
    atom_starts = np.concatenate([[0], np.cumsum(atom_counts)])
    blocks = range(0, len(structures), STRUCTURES_PER_CALL)
    parts = []
    for first in progress(blocks, f"graphs of {dataset.name}", total=len(blocks)):
        last = min(first + STRUCTURES_PER_CALL, len(structures))
        atoms = slice(atom_starts[first], atom_starts[last])
        pairs = batched_neighbor_list(positions[atoms], cells[first:last], pbcs[first:last],
                                      atom_counts[first:last], cutoff)
        parts.append((pairs.i + atom_starts[first], pairs.j + atom_starts[first], pairs.S,
                      pairs.pair_counts))
    return GraphSet(
        ids=[sample.id for sample in dataset.samples],
        numbers=np.concatenate([s.numbers for s in structures]).astype(np.int64)
        if structures else np.zeros(0, np.int64),
        positions=positions, cells=cells, atom_counts=atom_counts,
        edge_i=np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64),
        edge_j=np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64),
        cell_shifts=np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, 3), np.int32),
        edge_counts=np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, np.int64),
        targets={name: dataset.target(name) for name in dataset.target_names},
        cutoff=float(cutoff))


def cache_path(dataset: Dataset, cutoff: float, cache_dir: Path) -> Path:
    key = hashlib.sha256(f"{dataset.fingerprint}|{float(cutoff)!r}|{GRAPH_FORMAT_VERSION}"
                         .encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{dataset.name}-graphs-{key}.npz"


def load_or_build_graphs(dataset: Dataset, cutoff: float, cache_dir: Path) -> GraphSet:
    """Graphs from the cache when the data and cutoff match, else built and cached."""
    path = cache_path(dataset, cutoff, cache_dir)
    if path.is_file():
        return _load(path)
    graphs = build_graphs(dataset, cutoff)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".partial-{os.getpid()}.npz")
    arrays = {name: getattr(graphs, name) for name in
              ("numbers", "positions", "cells", "atom_counts", "edge_i", "edge_j",
               "cell_shifts", "edge_counts")}
    arrays.update({f"target:{name}": values for name, values in graphs.targets.items()})
    np.savez(partial, ids=np.array(graphs.ids, dtype=str), cutoff=graphs.cutoff, **arrays)
    os.replace(partial, path)
    return graphs


def _load(path: Path) -> GraphSet:
    with np.load(path) as stored:
        return GraphSet(
            ids=stored["ids"].tolist(), numbers=stored["numbers"], positions=stored["positions"],
            cells=stored["cells"], atom_counts=stored["atom_counts"], edge_i=stored["edge_i"],
            edge_j=stored["edge_j"], cell_shifts=stored["cell_shifts"],
            edge_counts=stored["edge_counts"], cutoff=float(stored["cutoff"]),
            targets={key.split(":", 1)[1]: stored[key] for key in stored.files
                     if key.startswith("target:")})
