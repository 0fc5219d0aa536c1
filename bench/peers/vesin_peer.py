"""vesin (Luthaf/vesin): C++ cell lists along the cell axes."""

import vesin

name = "vesin"


def version() -> str:
    return vesin.__version__


def prepare(cutoff: float):
    calculator = vesin.NeighborList(cutoff=cutoff, full_list=True, n_threads=1)

    def compute(positions, cell, pbc) -> int:
        i, j = calculator.compute(positions, cell, list(map(bool, pbc)), quantities="ij",
                                  copy=False)
        return len(i)
    return compute


COLD_START = ("import numpy as np, vesin; vesin.NeighborList(cutoff=5.0, full_list=True)"
              ".compute(np.random.rand(64, 3) * 8, 8 * np.eye(3), True, 'ijSd')")
