"""Input validation for the neighbour lists: every error names what arrived.

Cheap checks (shapes, dtypes, cutoff) happen here in Python; checks that must
look at every value (finite positions, singular cells, output size) happen in
the compiled search, which reports a status that `raise_for_status` words.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from kernels import cell_list


def check_cutoff(cutoff: float) -> float:
    try:
        value = float(cutoff)
    except (TypeError, ValueError):
        raise ValueError(f"cutoff must be a positive, finite length in Å; got {cutoff!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"cutoff must be a positive, finite length in Å; got {cutoff!r}")
    return value


def _as_float_array(name: str, value, shape_text: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real-valued array of shape {shape_text} in Å; "
                         f"got dtype {array.dtype}")
    return array


def _as_pbc(pbc, what: str = "pbc") -> np.ndarray:
    flags = np.asarray(pbc)
    if flags.dtype.kind not in "biu" or flags.shape not in ((), (3,)):
        raise ValueError(f"{what} must be one bool or three bools (periodic along each cell "
                         f"vector); got {pbc!r}")
    if flags.dtype.kind != "b" and not np.isin(flags, (0, 1)).all():
        raise ValueError(f"{what} must be one bool or three bools; got {pbc!r}")
    return np.ascontiguousarray(np.broadcast_to(flags.astype(np.bool_), (3,)))


def check_structure(positions, cell, pbc) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.dtype]:
    """Return contiguous float64 positions and cell, pbc as 3 bools, and the output dtype."""
    array = _as_float_array("positions", positions, "(N, 3)")
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3) in Å; got {array.shape}")
    dtype = array.dtype if array.dtype == np.float32 else np.dtype(np.float64)
    flags = _as_pbc(pbc)
    if cell is None:
        if flags.any():
            raise ValueError(f"a periodic structure needs a cell; got cell=None with pbc={pbc!r}")
        cell_array = np.zeros((3, 3))
    else:
        cell_array = _as_float_array("cell", cell, "(3, 3)")
        if cell_array.shape != (3, 3):
            raise ValueError(f"cell must have shape (3, 3) in Å, rows are the lattice "
                             f"vectors; got {cell_array.shape}")
    return (np.ascontiguousarray(array, dtype=np.float64),
            np.ascontiguousarray(cell_array, dtype=np.float64), flags, dtype)


def check_batch(positions, cells, pbcs, counts):
    """Validate concatenated structures; return arrays ready for the compiled search."""
    array = _as_float_array("positions", positions, "(sum(counts), 3)")
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"positions must have shape (sum(counts), 3) in Å; got {array.shape}")
    dtype = array.dtype if array.dtype == np.float32 else np.dtype(np.float64)
    count_array = np.asarray(counts)
    if count_array.ndim != 1 or count_array.dtype.kind not in "iu":
        raise ValueError(f"counts must be a 1-D integer array (atoms per structure); "
                         f"got shape {count_array.shape} and dtype {count_array.dtype}")
    if (count_array < 0).any():
        raise ValueError(f"counts must be non-negative; got {count_array.min()} "
                         f"at structure {int(np.argmin(count_array))}")
    if int(count_array.sum()) != array.shape[0]:
        raise ValueError(f"counts sum to {int(count_array.sum())} atoms but positions "
                         f"hold {array.shape[0]}")
    n_structures = count_array.shape[0]
    cell_array = _as_float_array("cells", cells, "(n_structures, 3, 3)")
    if cell_array.shape != (n_structures, 3, 3):
        raise ValueError(f"cells must have shape ({n_structures}, 3, 3) in Å for "
                         f"{n_structures} structures; got {cell_array.shape}")
    flags = np.asarray(pbcs)
    if flags.shape in ((), (3,)):
        flags = np.broadcast_to(_as_pbc(flags, "pbcs"), (n_structures, 3))
    elif flags.shape != (n_structures, 3) or flags.dtype.kind not in "biu":
        raise ValueError(f"pbcs must be one bool, three bools or an array of shape "
                         f"({n_structures}, 3); got shape {flags.shape}")
    return (np.ascontiguousarray(array, dtype=np.float64),
            np.ascontiguousarray(cell_array, dtype=np.float64),
            np.ascontiguousarray(flags, dtype=np.bool_),
            np.ascontiguousarray(count_array, dtype=np.int64), dtype)


def raise_for_status(status: int, value: int, cutoff: float, n_atoms: int, vectors: bool,
                     structure: int = -1) -> None:
    """Turn a status from the compiled search into a ValueError with its numbers."""
    if status == cell_list.STATUS_OK:
        return
    where = f" in structure {structure}" if structure >= 0 else ""
    if status == cell_list.STATUS_NONFINITE_POSITIONS:
        raise ValueError(f"positions must be finite; atom {value}{where} has NaN or inf")
    if status == cell_list.STATUS_NONFINITE_CELL:
        raise ValueError(f"cell must be finite; lattice vector {value}{where} has NaN or inf")
    if status == cell_list.STATUS_SINGULAR_CELL:
        raise ValueError(f"cell is singular along its periodic directions{where}: the periodic "
                         "lattice vectors must be non-zero and linearly independent")
    bytes_per_pair = 8 + 8 + 12 + 8 + (24 if vectors else 0)
    if status == cell_list.STATUS_TOO_MANY_PAIRS:
        gib = value * bytes_per_pair / 2**30
        raise ValueError(f"cutoff {cutoff} Å{where} would produce about {value:,} pairs "
                         f"({gib:,.1f} GiB), more than fit in memory; use a smaller cutoff")
    if status == cell_list.STATUS_TOO_MANY_IMAGES:
        raise ValueError(f"cutoff {cutoff} Å{where} needs {value:,} periodic images of "
                         f"{n_atoms} atoms, more than fit in memory; use a smaller cutoff")
    raise RuntimeError(f"neighbour search returned unknown status {status}")
