"""Canonical order for pair lists: by i, then j, then the cell shift S.

Two stable counting sorts (O(pairs + atoms)) instead of a comparison sort, so
that asking for deterministic output costs little next to the search itself.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _stable_order_by(keys, order, n_keys):
    """Reorder `order` stably by keys[order] (counting sort)."""
    start = np.zeros(n_keys + 1, np.int64)
    for p in range(order.shape[0]):
        start[keys[order[p]] + 1] += 1
    for k in range(n_keys):
        start[k + 1] += start[k]
    result = np.empty_like(order)
    for p in range(order.shape[0]):
        key = keys[order[p]]
        result[start[key]] = order[p]
        start[key] += 1
    return result


@njit(cache=True, nogil=True)
def _shift_less(S, a, b):
    for c in range(3):
        if S[a, c] != S[b, c]:
            return S[a, c] < S[b, c]
    return False


@njit(cache=True, nogil=True)
def sort_pairs(i, j, S, d, D, n_atoms):
    """Return (i, j, S, d, D) ordered by i, then j, then S (lexicographic)."""
    n_pairs = i.shape[0]
    order = np.arange(n_pairs)
    order = _stable_order_by(j, order, n_atoms)
    order = _stable_order_by(i, order, n_atoms)
    # Pairs with the same (i, j) differ by S: insertion sort within each run.
    start = 0
    while start < n_pairs:
        stop = start + 1
        while stop < n_pairs and i[order[stop]] == i[order[start]] and j[order[stop]] == j[order[start]]:
            stop += 1
        for p in range(start + 1, stop):
            current = order[p]
            q = p - 1
            while q >= start and _shift_less(S, current, order[q]):
                order[q + 1] = order[q]
                q -= 1
            order[q + 1] = current
        start = stop
    sorted_D = np.empty_like(D)
    if D.shape[0] == n_pairs:
        for p in range(n_pairs):
            sorted_D[p] = D[order[p]]
    sorted_S = np.empty_like(S)
    sorted_i = np.empty_like(i)
    sorted_j = np.empty_like(j)
    sorted_d = np.empty_like(d)
    for p in range(n_pairs):
        q = order[p]
        sorted_i[p] = i[q]
        sorted_j[p] = j[q]
        sorted_d[p] = d[q]
        sorted_S[p, 0] = S[q, 0]
        sorted_S[p, 1] = S[q, 1]
        sorted_S[p, 2] = S[q, 2]
    return sorted_i, sorted_j, sorted_S, sorted_d, sorted_D
