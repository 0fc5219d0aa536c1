"""Lattice reduction of the periodic cell vectors, compiled.

A skewed cell and its reduced (near-orthogonal) form describe the same
crystal, but a skewed cell needs many more periodic images around it. The pair
search therefore runs in the reduced basis and maps its integer shifts back
through the unimodular matrix returned here.
"""

import numpy as np
from numba import njit

# A basis whose normalised volume falls below this is treated as singular: the
# periodic vectors are (numerically) linearly dependent.
SINGULAR_TOLERANCE = 1e-10


@njit(cache=True, nogil=True)
def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@njit(cache=True, nogil=True)
def _cross(a, b):
    out = np.empty(3)
    out[0] = a[1] * b[2] - a[2] * b[1]
    out[1] = a[2] * b[0] - a[0] * b[2]
    out[2] = a[0] * b[1] - a[1] * b[0]
    return out


@njit(cache=True, nogil=True)
def _unit(a):
    return a / np.sqrt(_dot(a, a))


@njit(cache=True, nogil=True)
def reduce_cell(cell, pbc):
    """Reduce the periodic rows of `cell` and complete them to a 3D basis.

    Returns (basis, transform, ok): basis[k] = transform[k] @ cell for each
    periodic k (a near-orthogonal lattice basis of the same periodic lattice);
    rows of non-periodic directions are an orthonormal completion, so that
    fractional coordinates exist. `transform` is integer and unimodular on the
    periodic subspace and zero elsewhere. `ok` is False when the periodic
    vectors are linearly dependent (a singular cell).
    """
    periodic = np.empty(3, np.int64)
    m = 0
    for k in range(3):
        if pbc[k]:
            periodic[m] = k
            m += 1
    basis = np.zeros((3, 3))
    transform = np.zeros((3, 3), np.int64)
    for a in range(m):
        k = periodic[a]
        transform[k, k] = 1
        for c in range(3):
            basis[k, c] = cell[k, c]

    for a in range(m):  # zero-length vectors make the cell singular
        k = periodic[a]
        if _dot(basis[k], basis[k]) <= 0.0:
            return basis, transform, False

    # Greedy pairwise (Gauss) reduction: each accepted step strictly shortens
    # one vector, so it terminates; the iteration cap guards against rounding.
    for _ in range(200):
        changed = False
        for a in range(m):
            ka = periodic[a]
            norm_a = _dot(basis[ka], basis[ka])
            if norm_a <= 0.0:  # reduced to zero: the vectors were dependent
                return basis, transform, False
            for b in range(m):
                if a == b:
                    continue
                kb = periodic[b]
                q = np.round(_dot(basis[kb], basis[ka]) / norm_a)
                if q == 0.0:
                    continue
                candidate = transform[kb] - np.int64(q) * transform[ka]
                reduced = np.zeros(3)
                for c in range(3):
                    for l in range(3):
                        reduced[c] += candidate[l] * cell[l, c]
                if _dot(reduced, reduced) < _dot(basis[kb], basis[kb]) * (1.0 - 1e-12):
                    transform[kb] = candidate
                    basis[kb] = reduced
                    changed = True
        if not changed:
            break

    lengths = 1.0
    for a in range(m):
        lengths *= np.sqrt(_dot(basis[periodic[a]], basis[periodic[a]]))
    if m == 1:
        k = periodic[0]
        axis = np.zeros(3)
        axis[np.argmin(np.abs(basis[k]))] = 1.0
        u = _unit(_cross(basis[k], axis))
        w = _unit(_cross(basis[k], u))
        others = [c for c in range(3) if c != k]
        basis[others[0]] = u
        basis[others[1]] = w
    elif m == 2:
        k = 3 - periodic[0] - periodic[1]
        normal = _cross(basis[periodic[0]], basis[periodic[1]])
        if np.sqrt(_dot(normal, normal)) <= SINGULAR_TOLERANCE * lengths:
            return basis, transform, False
        basis[k] = _unit(normal)
    elif m == 0:
        for k in range(3):
            basis[k, k] = 1.0
    else:
        volume = abs(_dot(basis[0], _cross(basis[1], basis[2])))
        if volume <= SINGULAR_TOLERANCE * lengths:
            return basis, transform, False
    return basis, transform, True


@njit(cache=True, nogil=True)
def inverse_3x3(matrix):
    """Inverse of a non-singular 3x3 matrix by cofactors (no LAPACK needed)."""
    inverse = np.empty((3, 3))
    a = matrix
    inverse[0, 0] = a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]
    inverse[0, 1] = a[0, 2] * a[2, 1] - a[0, 1] * a[2, 2]
    inverse[0, 2] = a[0, 1] * a[1, 2] - a[0, 2] * a[1, 1]
    inverse[1, 0] = a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]
    inverse[1, 1] = a[0, 0] * a[2, 2] - a[0, 2] * a[2, 0]
    inverse[1, 2] = a[0, 2] * a[1, 0] - a[0, 0] * a[1, 2]
    inverse[2, 0] = a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]
    inverse[2, 1] = a[0, 1] * a[2, 0] - a[0, 0] * a[2, 1]
    inverse[2, 2] = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
    determinant = a[0, 0] * inverse[0, 0] + a[0, 1] * inverse[1, 0] + a[0, 2] * inverse[2, 0]
    return inverse / determinant
