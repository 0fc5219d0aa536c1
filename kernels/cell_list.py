"""Compiled pair search with Cartesian cell lists over periodic images.

For one structure: wrap atoms into the reduced cell, add the periodic images
("ghosts") that lie within the cutoff of the cell, bin every ghost on a
Cartesian grid, and test each central atom against the ghosts of its
neighbouring bins. Work is O(N) in atoms at fixed density. Binning in
Cartesian space rather than along the cell axes keeps skewed cells as fast as
cubic ones. Status codes, not exceptions, leave the compiled code so that the
Python side can word the error with the values that caused it.
"""

import numpy as np
from numba import njit

from kernels.lattice import inverse_3x3, reduce_cell

STATUS_OK = 0
STATUS_TOO_MANY_PAIRS = 1
STATUS_TOO_MANY_IMAGES = 2
STATUS_SINGULAR_CELL = 3
STATUS_NONFINITE_POSITIONS = 4
STATUS_NONFINITE_CELL = 5

# Grid cells are at least this many cutoffs wide (1.0: a 27-bin stencil).
BIN_SIZE_IN_CUTOFFS = 1.0


@njit(cache=True, nogil=True)
def _empty_outputs(capacity, want_vectors):
    n_vectors = capacity if want_vectors else 0
    return (np.empty(capacity, np.int64), np.empty(capacity, np.int64),
            np.empty((capacity, 3), np.int32), np.empty(capacity),
            np.empty((n_vectors, 3)))


@njit(cache=True, nogil=True)
def _grow(out_i, out_j, out_S, out_d, out_D, n_used, capacity, want_vectors):
    """Copy the first n_used pairs into buffers of the new capacity."""
    new_i, new_j, new_S, new_d, new_D = _empty_outputs(capacity, want_vectors)
    new_i[:n_used] = out_i[:n_used]
    new_j[:n_used] = out_j[:n_used]
    new_S[:n_used] = out_S[:n_used]
    new_d[:n_used] = out_d[:n_used]
    if want_vectors:
        new_D[:n_used] = out_D[:n_used]
    return new_i, new_j, new_S, new_d, new_D


@njit(cache=True, nogil=True)
def _stencil_rows(reach, width, n_bins):
    """Neighbour-bin rows (dx, dy) and the z half-width of each, trimmed to the sphere.

    A row of bins along z is contiguous in memory; rows and z ranges whose
    nearest point is farther than `reach` from the central bin are left out.
    """
    rx = min(n_bins[0] - 1, np.int64(np.ceil(reach / width[0])))
    ry = min(n_bins[1] - 1, np.int64(np.ceil(reach / width[1])))
    rz = min(n_bins[2] - 1, np.int64(np.ceil(reach / width[2])))
    count = (2 * rx + 1) * (2 * ry + 1)
    row_dx = np.empty(count, np.int64)
    row_dy = np.empty(count, np.int64)
    row_dz = np.empty(count, np.int64)
    r = 0
    for dx in range(-rx, rx + 1):
        gap_x = max(0, abs(dx) - 1) * width[0]
        for dy in range(-ry, ry + 1):
            gap_y = max(0, abs(dy) - 1) * width[1]
            left = reach * reach - gap_x * gap_x - gap_y * gap_y
            if left <= 0.0:
                continue
            row_dx[r] = dx
            row_dy[r] = dy
            row_dz[r] = min(rz, np.int64(np.ceil(np.sqrt(left) / width[2])))
            r += 1
    return row_dx[:r], row_dy[:r], row_dz[:r]


@njit(cache=True, nogil=True)
def _bin_of(position, lower, width, n_bins):
    """Flat index of the grid bin holding a Cartesian position (clamped to the grid)."""
    b = 0
    for c in range(3):
        index = min(n_bins[c] - 1, max(0, np.int64((position[c] - lower[c]) / width[c])))
        b = b * n_bins[c] + index
    return b


@njit(cache=True, nogil=True)
def _row_range(b, r, n_bins, row_dx, row_dy, row_dz, bin_start):
    """Ghosts [g0, g1) of stencil row r around bin b; empty when off the grid."""
    n_xy = n_bins[1] * n_bins[2]
    bz = b % n_bins[2]
    nx = b // n_xy + row_dx[r]
    ny = (b // n_bins[2]) % n_bins[1] + row_dy[r]
    if nx < 0 or nx >= n_bins[0] or ny < 0 or ny >= n_bins[1]:
        return 0, 0
    row = nx * n_xy + ny * n_bins[2]
    return (bin_start[row + max(0, bz - row_dz[r])],
            bin_start[row + min(n_bins[2], bz + row_dz[r] + 1)])


@njit(cache=True, nogil=True)
def search_structure(positions, cell, pbc, cutoff, self_interaction, want_vectors,
                     atom_offset, max_pairs, out_i, out_j, out_S, out_d, out_D, n_used,
                     bin_size=BIN_SIZE_IN_CUTOFFS):
    """Append the pairs of one structure to the output buffers.

    Returns (status, value, n_used, out_i, out_j, out_S, out_d, out_D); the
    buffers are new arrays when they had to grow. `value` carries the number
    behind a non-OK status (estimated pairs or images).
    """
    n_atoms = positions.shape[0]
    for a in range(n_atoms):
        for c in range(3):
            if not np.isfinite(positions[a, c]):
                return (STATUS_NONFINITE_POSITIONS, a, n_used, out_i, out_j, out_S, out_d, out_D)
    for a in range(3):
        for c in range(3):
            if not np.isfinite(cell[a, c]):
                return (STATUS_NONFINITE_CELL, a, n_used, out_i, out_j, out_S, out_d, out_D)
    if n_atoms == 0:
        return (STATUS_OK, 0, n_used, out_i, out_j, out_S, out_d, out_D)

    basis, transform, ok = reduce_cell(cell, pbc)
    if not ok:
        return (STATUS_SINGULAR_CELL, 0, n_used, out_i, out_j, out_S, out_d, out_D)
    inverse = inverse_3x3(basis)

    # Fractional coordinates in the reduced basis; wrap the periodic ones.
    wrapped = np.empty((n_atoms, 3))
    fractional = np.empty((n_atoms, 3))
    wrap_shift = np.zeros((n_atoms, 3), np.int64)  # S of each atom's wrap, original basis
    reach = np.zeros(3)  # how far (fractional) a pair can reach along each direction
    for k in range(3):
        if pbc[k]:
            length = np.sqrt(inverse[0, k] ** 2 + inverse[1, k] ** 2 + inverse[2, k] ** 2)
            reach[k] = cutoff * length * (1.0 + 1e-9) + 1e-12
    image_estimate = 0.0
    offset = np.zeros(3, np.int64)
    for a in range(n_atoms):
        images = 1.0
        offset[:] = 0
        for k in range(3):
            f = (positions[a, 0] * inverse[0, k] + positions[a, 1] * inverse[1, k]
                 + positions[a, 2] * inverse[2, k])
            if pbc[k]:
                o = np.floor(f)
                f -= o
                offset[k] = np.int64(o)
                images *= np.floor(1.0 + reach[k] - f) - np.ceil(-reach[k] - f) + 1.0
            fractional[a, k] = f
        image_estimate += images
        for c in range(3):
            shift = 0.0
            for k in range(3):
                shift += offset[k] * basis[k, c]
            wrapped[a, c] = positions[a, c] - shift
            for k in range(3):
                wrap_shift[a, c] += offset[k] * transform[k, c]
    if image_estimate > max_pairs:
        return (STATUS_TOO_MANY_IMAGES, np.int64(image_estimate), n_used,
                out_i, out_j, out_S, out_d, out_D)

    # Ghosts: every image whose fractional coordinates lie within `reach` of
    # the unit cube; a central atom's partners all lie there.
    n_ghosts = np.int64(image_estimate)
    ghost_position = np.empty((n_ghosts, 3))
    ghost_atom = np.empty(n_ghosts, np.int64)
    ghost_shift = np.empty((n_ghosts, 3), np.int64)  # S of the ghost, original basis
    low = np.empty(3, np.int64)
    high = np.empty(3, np.int64)
    g = 0
    for a in range(n_atoms):
        for k in range(3):
            if pbc[k]:
                low[k] = np.int64(np.ceil(-reach[k] - fractional[a, k]))
                high[k] = np.int64(np.floor(1.0 + reach[k] - fractional[a, k]))
            else:
                low[k] = 0
                high[k] = 0
        for s0 in range(low[0], high[0] + 1):
            for s1 in range(low[1], high[1] + 1):
                for s2 in range(low[2], high[2] + 1):
                    for c in range(3):
                        ghost_position[g, c] = (wrapped[a, c] + s0 * basis[0, c]
                                                + s1 * basis[1, c] + s2 * basis[2, c])
                        ghost_shift[g, c] = (s0 * transform[0, c] + s1 * transform[1, c]
                                             + s2 * transform[2, c] - wrap_shift[a, c])
                    ghost_atom[g] = a
                    g += 1

    # Cartesian grid over the ghosts' bounding box.
    lower = np.empty(3)
    upper = np.empty(3)
    for c in range(3):
        lower[c] = ghost_position[0, c]
        upper[c] = ghost_position[0, c]
    for h in range(n_ghosts):
        for c in range(3):
            x = ghost_position[h, c]
            if x < lower[c]:
                lower[c] = x
            if x > upper[c]:
                upper[c] = x
    target = cutoff * bin_size
    n_bins = np.ones(3, np.int64)
    for c in range(3):
        n_bins[c] = max(1, min(1 << 20, np.int64((upper[c] - lower[c]) / target)))
    # Cap the grid at a few bins per ghost: sparse structures in big boxes.
    bin_cap = 8 * n_ghosts + 64
    while n_bins[0] * n_bins[1] * n_bins[2] > bin_cap:
        for c in range(3):
            n_bins[c] = max(1, (n_bins[c] + 1) // 2)
    width = np.empty(3)
    for c in range(3):
        extent = upper[c] - lower[c]
        width[c] = extent / n_bins[c] if extent > 0.0 else target
    row_dx, row_dy, row_dz = _stencil_rows(cutoff * (1.0 + 1e-9) + 1e-12, width, n_bins)
    total_bins = n_bins[0] * n_bins[1] * n_bins[2]

    # Counting sort of ghosts by bin, so that each bin is contiguous in memory.
    ghost_bin = np.empty(n_ghosts, np.int64)
    bin_start = np.zeros(total_bins + 1, np.int64)
    for h in range(n_ghosts):
        b = _bin_of(ghost_position[h], lower, width, n_bins)
        ghost_bin[h] = b
        bin_start[b + 1] += 1
    for b in range(total_bins):
        bin_start[b + 1] += bin_start[b]
    fill = bin_start[:-1].copy()
    sorted_x = np.empty(n_ghosts)
    sorted_y = np.empty(n_ghosts)
    sorted_z = np.empty(n_ghosts)
    sorted_atom = np.empty(n_ghosts, np.int64)
    sorted_shift = np.empty((n_ghosts, 3), np.int64)
    for h in range(n_ghosts):
        slot = fill[ghost_bin[h]]
        fill[ghost_bin[h]] += 1
        sorted_x[slot] = ghost_position[h, 0]
        sorted_y[slot] = ghost_position[h, 1]
        sorted_z[slot] = ghost_position[h, 2]
        sorted_atom[slot] = ghost_atom[h]
        sorted_shift[slot, 0] = ghost_shift[h, 0]
        sorted_shift[slot, 1] = ghost_shift[h, 1]
        sorted_shift[slot, 2] = ghost_shift[h, 2]

    # Central atoms grouped by their bin.
    central_start = np.zeros(total_bins + 1, np.int64)
    central_bin = np.empty(n_atoms, np.int64)
    for a in range(n_atoms):
        b = _bin_of(wrapped[a], lower, width, n_bins)
        central_bin[a] = b
        central_start[b + 1] += 1
    for b in range(total_bins):
        central_start[b + 1] += central_start[b]
    central_fill = central_start[:-1].copy()
    central_atoms = np.empty(n_atoms, np.int64)
    for a in range(n_atoms):
        central_atoms[central_fill[central_bin[a]]] = a
        central_fill[central_bin[a]] += 1

    # Capacity from the candidate count and the expected hit ratio, unless the
    # buffers already hold every candidate pair (small crystals in a batch).
    n_rows = row_dx.shape[0]
    max_row = n_ghosts
    if n_used + n_atoms * n_ghosts > out_i.shape[0]:
        candidates = 0
        stencil_volume = 0.0
        for r in range(n_rows):
            stencil_volume += (2 * row_dz[r] + 1) * width[0] * width[1] * width[2]
        max_row = 0
        for b in range(total_bins):
            n_central = central_start[b + 1] - central_start[b]
            if n_central == 0:
                continue
            in_stencil = 0
            for r in range(n_rows):
                g0, g1 = _row_range(b, r, n_bins, row_dx, row_dy, row_dz, bin_start)
                in_row = g1 - g0
                in_stencil += in_row
                max_row = max(max_row, in_row)
            candidates += n_central * in_stencil
        sphere = 4.0 / 3.0 * np.pi * cutoff ** 3
        expected = candidates * min(1.0, sphere / stencil_volume)
        if n_used + expected > max_pairs:
            return (STATUS_TOO_MANY_PAIRS, np.int64(n_used + expected), n_used,
                    out_i, out_j, out_S, out_d, out_D)
        needed = n_used + min(candidates, np.int64(1.25 * expected) + 64)
        if needed > out_i.shape[0]:  # grow geometrically: batches append many times
            capacity = max(needed, 2 * out_i.shape[0]) if n_used > 0 else needed
            out_i, out_j, out_S, out_d, out_D = _grow(out_i, out_j, out_S, out_d, out_D,
                                                      n_used, capacity, want_vectors)

    cutoff2 = cutoff * cutoff
    n = n_used
    capacity = out_i.shape[0]
    hits = np.empty(max_row, np.int64)
    squared = np.empty(max_row)
    for b in range(total_bins):
        c0 = central_start[b]
        c1 = central_start[b + 1]
        if c0 == c1:
            continue
        for r in range(n_rows):
            g0, g1 = _row_range(b, r, n_bins, row_dx, row_dy, row_dz, bin_start)
            if g0 == g1:
                continue
            if n + (c1 - c0) * (g1 - g0) > capacity:
                capacity = max(2 * capacity, n + (c1 - c0) * (g1 - g0))
                out_i, out_j, out_S, out_d, out_D = _grow(
                    out_i, out_j, out_S, out_d, out_D, n, capacity, want_vectors)
            for ci in range(c0, c1):
                i = central_atoms[ci]
                xi = wrapped[i, 0]
                yi = wrapped[i, 1]
                zi = wrapped[i, 2]
                # Three passes: distances (vectorised), hit indices (branch-free:
                # most candidates miss and a mispredicted branch costs more than
                # the distance), then the output for the hits only.
                length = g1 - g0
                for h in range(length):
                    dx = sorted_x[g0 + h] - xi
                    dy = sorted_y[g0 + h] - yi
                    dz = sorted_z[g0 + h] - zi
                    squared[h] = dx * dx + dy * dy + dz * dz
                m = 0
                for h in range(length):
                    hits[m] = h
                    m += squared[h] < cutoff2
                for k in range(m):
                    h = g0 + hits[k]
                    j = sorted_atom[h]
                    s0 = sorted_shift[h, 0] + wrap_shift[i, 0]
                    s1 = sorted_shift[h, 1] + wrap_shift[i, 1]
                    s2 = sorted_shift[h, 2] + wrap_shift[i, 2]
                    if j == i and s0 == 0 and s1 == 0 and s2 == 0 and not self_interaction:
                        continue
                    out_i[n] = i + atom_offset
                    out_j[n] = j + atom_offset
                    out_S[n, 0] = s0
                    out_S[n, 1] = s1
                    out_S[n, 2] = s2
                    out_d[n] = np.sqrt(squared[hits[k]])
                    if want_vectors:
                        out_D[n, 0] = sorted_x[h] - xi
                        out_D[n, 1] = sorted_y[h] - yi
                        out_D[n, 2] = sorted_z[h] - zi
                    n += 1
    return (STATUS_OK, 0, n, out_i, out_j, out_S, out_d, out_D)


@njit(cache=True, nogil=True)
def search_batch(positions, cells, pbcs, counts, cutoff, self_interaction, want_vectors,
                 max_pairs, out_i, out_j, out_S, out_d, out_D, bin_size=BIN_SIZE_IN_CUTOFFS):
    """Pairs of many structures in one call, indices into the concatenated atoms.

    Returns (status, value, structure, n_pairs, pair_counts, out_i, out_j,
    out_S, out_d, out_D); on a non-OK status, `structure` is the culprit.
    """
    n_structures = counts.shape[0]
    pair_counts = np.zeros(n_structures, np.int64)
    n = 0
    first = 0
    for s in range(n_structures):
        last = first + counts[s]
        status, value, n_new, out_i, out_j, out_S, out_d, out_D = search_structure(
            positions[first:last], cells[s], pbcs[s], cutoff, self_interaction, want_vectors,
            first, max_pairs, out_i, out_j, out_S, out_d, out_D, n, bin_size)
        if status != STATUS_OK:
            return status, value, s, n, pair_counts, out_i, out_j, out_S, out_d, out_D
        pair_counts[s] = n_new - n
        n = n_new
        first = last
    return STATUS_OK, 0, -1, n, pair_counts, out_i, out_j, out_S, out_d, out_D
