"""ASE's primitive_neighbor_list (numpy), the reference for the pair set."""

import ase
from ase.neighborlist import primitive_neighbor_list

name = "ase"


def version() -> str:
    return ase.__version__


def prepare(cutoff: float):
    def compute(positions, cell, pbc) -> int:
        i, j = primitive_neighbor_list("ij", pbc, cell, positions, cutoff)
        return len(i)
    return compute


COLD_START = ("import numpy as np; from ase.neighborlist import primitive_neighbor_list; "
              "primitive_neighbor_list('ijSd', [True] * 3, 8 * np.eye(3), "
              "np.random.rand(64, 3) * 8, 5.0)")
