"""matscipy's C neighbour list (binning along the cell axes)."""

import matscipy
from matscipy.neighbours import neighbour_list

name = "matscipy"


def version() -> str:
    return matscipy.__version__


def prepare(cutoff: float):
    def compute(positions, cell, pbc) -> int:
        i, j = neighbour_list("ij", positions=positions, cell=cell, pbc=pbc, cutoff=cutoff)
        return len(i)
    return compute


COLD_START = ("import numpy as np; from matscipy.neighbours import neighbour_list; "
              "neighbour_list('ijSd', positions=np.random.rand(64, 3) * 8, cell=8 * np.eye(3), "
              "pbc=[True] * 3, cutoff=5.0)")
