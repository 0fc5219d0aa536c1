"""Periodic neighbour lists: the entry point for training, the hub and the Pi.

Contract (DESIGN.md): all pairs (i, j, S) with |D| < cutoff, where
D = positions[j] - positions[i] + S @ cell, S integer cell shifts, both i→j and
j→i listed, i==j kept when S is non-zero. The pair set equals ASE's and
vesin's, so graphs built here match what users of those libraries build.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import numpy as np

from kernels import cell_list
from kernels.input_checks import (check_batch, check_cutoff, check_structure,
                                  raise_for_status)
from kernels.buffers import PREALLOCATE_ABOVE, PairBuffers, empty_buffers, expected_pairs
from kernels.pair_sort import sort_pairs
from kernels.threads import search_batch_threaded



class Neighbors(NamedTuple):
    i: np.ndarray  # [n_pairs] int64, centre atom
    j: np.ndarray  # [n_pairs] int64, neighbour atom
    S: np.ndarray  # [n_pairs, 3] int32, integer cell shifts
    d: np.ndarray  # [n_pairs] Å, same float dtype as the positions
    D: np.ndarray | None = None  # [n_pairs, 3] Å, only when vectors=True


class BatchedNeighbors(NamedTuple):
    i: np.ndarray  # [n_pairs] int64, index into the concatenated atoms
    j: np.ndarray  # [n_pairs] int64, index into the concatenated atoms
    S: np.ndarray  # [n_pairs, 3] int32, integer cell shifts
    d: np.ndarray  # [n_pairs] Å
    D: np.ndarray | None  # [n_pairs, 3] Å, only when vectors=True
    pair_counts: np.ndarray  # [n_structures] int64, pairs of each structure, in order


def _bytes_per_pair(vectors: bool) -> int:
    return 8 + 8 + 12 + 8 + (24 if vectors else 0)


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GiB
        return 8 << 30


def max_pairs(vectors: bool = False) -> int:
    """Most pairs one call may produce: half the physical memory in output."""
    return _memory_bytes() // 2 // _bytes_per_pair(vectors)


def _buffers_for(current: PairBuffers, expected: float, vectors: bool) -> PairBuffers:
    """Current buffers if big enough for the expected pairs, else new numpy ones."""
    if expected < PREALLOCATE_ABOVE or current[0].shape[0] >= expected:
        return current
    capacity = int(1.15 * expected) + 1024
    if capacity > max_pairs(vectors):  # let the search refuse it with its own estimate
        return current
    return empty_buffers(capacity, vectors)


class NeighborList:
    """A reusable neighbour-list calculator that keeps its output buffers.

    Arrays returned by `compute` are views into those buffers: they stay valid
    until the next call on the same object (copy them to keep them). Creating
    one object per loop instead of calling `neighbor_list` each time saves the
    allocations when many structures of similar size go through.
    `n_threads` > 1 splits batches across threads (single structures use one).
    """

    def __init__(self, cutoff: float, *, self_interaction: bool = False,
                 sorted: bool = False, n_threads: int = 1) -> None:
        self.cutoff = check_cutoff(cutoff)
        if not isinstance(n_threads, int) or n_threads < 1:
            raise ValueError(f"n_threads must be a positive integer; got {n_threads!r}")
        self.n_threads = n_threads
        self.self_interaction = bool(self_interaction)
        self.sorted = bool(sorted)
        self._buffers: PairBuffers = empty_buffers(0, False)
        self._buffers_with_vectors: PairBuffers = empty_buffers(0, True)
        self._chunk_buffers = {flag: [empty_buffers(0, flag)] * n_threads
                               for flag in (False, True)}

    def _keep(self, buffers, vectors: bool) -> None:
        if vectors:
            self._buffers_with_vectors = tuple(buffers)
        else:
            self._buffers = tuple(buffers)

    def compute(self, positions: np.ndarray, cell: np.ndarray | None,
                pbc: bool | Sequence[bool], *, vectors: bool = False,
                _own: bool = False) -> Neighbors:
        """Pairs of one structure; see `neighbor_list` for the contract."""
        positions, cell, pbc, dtype = check_structure(positions, cell, pbc)
        buffers = self._buffers_with_vectors if vectors else self._buffers
        if positions.shape[0] > 512 and pbc.all():
            n_atoms = np.array([positions.shape[0]])
            buffers = _buffers_for(buffers, expected_pairs(n_atoms, cell[None], pbc[None],
                                                            self.cutoff), vectors)
        status, value, n, *buffers = cell_list.search_structure(
            positions, cell, pbc, self.cutoff, self.self_interaction, vectors, 0,
            max_pairs(vectors), *buffers, 0)
        raise_for_status(status, value, self.cutoff, positions.shape[0], vectors)
        self._keep(buffers, vectors)
        return _finish(Neighbors, buffers, n, vectors, self.sorted,
                       positions.shape[0], dtype, _own)

    def compute_batch(self, positions: np.ndarray, cells: np.ndarray,
                      pbcs: np.ndarray | bool | Sequence[bool], counts: np.ndarray,
                      *, vectors: bool = False, _own: bool = False) -> BatchedNeighbors:
        """Pairs of many structures; see `batched_neighbor_list`."""
        positions, cells, pbcs, counts, dtype = check_batch(positions, cells, pbcs, counts)
        buffers = self._buffers_with_vectors if vectors else self._buffers
        if self.n_threads > 1 and len(counts) >= 2 * self.n_threads:
            status, value, culprit, n, pair_counts, buffers, chunks = search_batch_threaded(
                positions, cells, pbcs, counts, self.cutoff, self.self_interaction, vectors,
                max_pairs(vectors), self._chunk_buffers[vectors], buffers)
            self._chunk_buffers[vectors] = chunks
        else:
            if positions.shape[0] > 512:
                buffers = _buffers_for(buffers, expected_pairs(counts, cells, pbcs, self.cutoff),
                                       vectors)
            status, value, culprit, n, pair_counts, *buffers = cell_list.search_batch(
                positions, cells, pbcs, counts, self.cutoff, self.self_interaction, vectors,
                max_pairs(vectors), *buffers)
        raise_for_status(status, value, self.cutoff, positions.shape[0], vectors,
                         structure=culprit)
        self._keep(buffers, vectors)
        result = _finish(Neighbors, buffers, n, vectors, self.sorted,
                         positions.shape[0], dtype, _own)
        return BatchedNeighbors(*result, pair_counts=pair_counts)


def _finish(kind, buffers: PairBuffers, n: int, vectors: bool, sort: bool,
            n_atoms: int, dtype: np.dtype, own: bool = False):
    """Trim buffers to n pairs; with `own`, copy when the buffers are much larger."""
    if own and not sort and buffers[0].shape[0] > 2 * n + 1024:
        out_i, out_j, out_S, out_d, out_D = (b[:n].copy() for b in buffers)
    else:
        out_i, out_j, out_S, out_d, out_D = (b[:n] for b in buffers)
    if sort:
        out_i, out_j, out_S, out_d, out_D = sort_pairs(out_i, out_j, out_S, out_d, out_D, n_atoms)
    if dtype != np.float64:
        out_d = out_d.astype(dtype)
        out_D = out_D.astype(dtype)
    return kind(out_i, out_j, out_S, out_d, out_D if vectors else None)


def neighbor_list(positions: np.ndarray, cell: np.ndarray | None,
                  pbc: bool | Sequence[bool], cutoff: float, *,
                  self_interaction: bool = False, sorted: bool = False,
                  vectors: bool = False) -> Neighbors:
    """All pairs with d < cutoff (Å), both i→j and j→i.

    positions: (N, 3) Å, float64 or float32, atoms may lie outside the cell.
    cell: (3, 3) Å, rows are the lattice vectors (None: no cell, pbc all False).
    pbc: one bool or three, periodic along each cell vector.
    D = positions[j] - positions[i] + S @ cell. The pair set is the same as
    ASE's, so the graphs our models train on match what ASE users build.
    `self_interaction` adds (i, i, S=0) with d=0; `sorted` orders the pairs by
    i, then j, then S; `vectors` also returns D.
    """
    calculator = NeighborList(cutoff, self_interaction=self_interaction, sorted=sorted)
    return calculator.compute(positions, cell, pbc, vectors=vectors, _own=True)


def batched_neighbor_list(positions: np.ndarray, cells: np.ndarray,
                          pbcs: np.ndarray | bool | Sequence[bool], counts: np.ndarray,
                          cutoff: float, *, self_interaction: bool = False,
                          sorted: bool = False, vectors: bool = False,
                          n_threads: int = 1) -> BatchedNeighbors:
    """Pairs of many structures in one compiled call, with no Python loop.

    positions: (sum(counts), 3) Å, the structures' atoms concatenated.
    cells: (n_structures, 3, 3) Å; pbcs: (n_structures, 3) bools, or one
    bool / three bools for all; counts: (n_structures,) atoms per structure.
    i and j index the concatenated atoms; `pair_counts` says how many pairs
    belong to each structure, in order, so that structure s owns the slice
    pair_counts[:s].sum() : pair_counts[:s + 1].sum(). `n_threads` > 1 splits
    the structures across threads; the result is identical.
    """
    calculator = NeighborList(cutoff, self_interaction=self_interaction, sorted=sorted,
                              n_threads=n_threads)
    return calculator.compute_batch(positions, cells, pbcs, counts, vectors=vectors, _own=True)
