"""Output buffers for the pair search, sized from the expected pair count.

Buffers allocated here with numpy get huge pages from the kernel; growing
fresh memory page by page inside the compiled search costs more than the
search itself in a batch of small crystals.
"""

from __future__ import annotations

import numpy as np

PairBuffers = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

# Below this many expected pairs the compiled search allocates by itself.
PREALLOCATE_ABOVE = 20_000


def empty_buffers(capacity: int, vectors: bool) -> PairBuffers:
    """(i, j, S, d, D) buffers for `capacity` pairs; D is empty without vectors."""
    return (np.empty(capacity, np.int64), np.empty(capacity, np.int64),
            np.empty((capacity, 3), np.int32), np.empty(capacity),
            np.empty((capacity if vectors else 0, 3)))


def expected_pairs(counts: np.ndarray, cells: np.ndarray, pbcs: np.ndarray,
                   cutoff: float) -> float:
    """Pairs that the fully periodic structures should give at their mean density."""
    periodic = pbcs.all(axis=1)
    volumes = np.abs(np.linalg.det(cells[periodic]))
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(volumes > 0, counts[periodic] / volumes, 0.0)
    return float((counts[periodic] * density).sum() * 4.0 / 3.0 * np.pi * cutoff**3)
