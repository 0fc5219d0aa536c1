"""A batch of structures split across threads.

The compiled search releases the GIL, so plain threads run it in parallel
with no extra processes. Structures are split into contiguous chunks of about
equal work (atoms squared) and the chunk outputs are concatenated in order, so
the result is identical to the single-threaded one. Fresh memory is touched
page by page under one kernel lock, which serialises the threads: the
buffers are therefore kept by the caller and reused between calls.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kernels import cell_list
from kernels.buffers import PairBuffers, empty_buffers, expected_pairs


def _chunk_bounds(counts: np.ndarray, n_chunks: int) -> list[int]:
    """Structure indices that split the batch into chunks of similar work."""
    work = np.cumsum(counts.astype(np.float64) ** 2 + 1.0)
    targets = work[-1] * np.arange(1, n_chunks) / n_chunks
    inner = np.searchsorted(work, targets).tolist()
    return sorted(set([0, *inner, len(counts)]))


def search_batch_threaded(positions: np.ndarray, cells: np.ndarray, pbcs: np.ndarray,
                          counts: np.ndarray, cutoff: float, self_interaction: bool,
                          vectors: bool, max_pairs: int, chunk_buffers: list[PairBuffers],
                          merged: PairBuffers):
    """Like cell_list.search_batch, on len(chunk_buffers) threads.

    Returns (status, value, culprit, n, pair_counts, merged buffers, chunk
    buffers); buffers come back grown where they had to grow.
    """
    bounds = _chunk_bounds(counts, len(chunk_buffers))
    atom_starts = np.concatenate([[0], np.cumsum(counts)])

    def run(chunk: int):
        first, last = bounds[chunk], bounds[chunk + 1]
        atoms = slice(atom_starts[first], atom_starts[last])
        buffers = chunk_buffers[chunk]
        expected = expected_pairs(counts[first:last], cells[first:last], pbcs[first:last], cutoff)
        if buffers[0].shape[0] < expected < max_pairs:
            buffers = empty_buffers(int(1.15 * expected) + 1024, vectors)
        return cell_list.search_batch(positions[atoms], cells[first:last], pbcs[first:last],
                                      counts[first:last], cutoff, self_interaction, vectors,
                                      max_pairs, *buffers)

    with ThreadPoolExecutor(max_workers=len(bounds) - 1) as pool:
        results = list(pool.map(run, range(len(bounds) - 1)))
    chunk_buffers = [tuple(result[5:]) for result in results] + chunk_buffers[len(results):]

    for chunk, (status, value, culprit, *_rest) in enumerate(results):
        if status != cell_list.STATUS_OK:
            return (status, value, bounds[chunk] + culprit, 0, np.zeros(0, np.int64), merged,
                    chunk_buffers)
    total = sum(result[3] for result in results)
    if merged[0].shape[0] < total:
        merged = empty_buffers(int(1.1 * total) + 1024, vectors)
    start = 0
    for chunk, (_status, _value, _culprit, n, _counts, *buffers) in enumerate(results):
        shift = atom_starts[bounds[chunk]]
        part = slice(start, start + n)
        np.add(buffers[0][:n], shift, out=merged[0][part])
        np.add(buffers[1][:n], shift, out=merged[1][part])
        merged[2][part] = buffers[2][:n]
        merged[3][part] = buffers[3][:n]
        if vectors:
            merged[4][part] = buffers[4][:n]
        start += n
    pair_counts = np.concatenate([result[4] for result in results])
    return cell_list.STATUS_OK, 0, -1, total, pair_counts, merged, chunk_buffers
