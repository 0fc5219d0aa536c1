"""pymatgen's find_points_in_spheres (Cython), as Structure.get_neighbor_list uses it."""

import numpy as np
import pymatgen.core
from pymatgen.optimization.neighbors import find_points_in_spheres

name = "pymatgen"


def version() -> str:
    return pymatgen.core.__version__


def prepare(cutoff: float):
    def compute(positions, cell, pbc) -> int:
        # Cell may be all zeros for a molecule: pymatgen needs a lattice, so use a big box.
        lattice = np.ascontiguousarray(cell if np.any(pbc) else 1e3 * np.eye(3), dtype=float)
        positions = np.ascontiguousarray(positions, dtype=float)
        i, j, offsets, d = find_points_in_spheres(
            positions, positions, r=cutoff, pbc=np.asarray(pbc, dtype=np.int64),
            lattice=lattice, tol=1e-8)
        # pymatgen keeps (i, i, 0) with d = 0; the contract excludes it.
        self_pairs = (i == j) & ~np.any(offsets, axis=1)
        return int(len(i) - self_pairs.sum())
    return compute


COLD_START = ("import numpy as np; from pymatgen.optimization.neighbors import "
              "find_points_in_spheres; p = np.random.rand(64, 3) * 8; find_points_in_spheres("
              "p, p, r=5.0, pbc=np.ones(3, dtype=np.int64), lattice=8 * np.eye(3), tol=1e-8)")
