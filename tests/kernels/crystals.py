"""Hypothesis strategies for random structures and a reference pair-set helper."""

from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

BOUNDARY = 1e-8  # pairs this close to the cutoff may fall either way in rounding


@dataclass
class Crystal:
    positions: np.ndarray  # [n_atoms, 3] Å
    cell: np.ndarray  # [3, 3] Å, rows are lattice vectors
    pbc: np.ndarray  # [3] bool

    def to_ase(self):
        from ase import Atoms
        return Atoms(f"H{len(self.positions)}" if len(self.positions) else "",
                     positions=self.positions, cell=self.cell, pbc=self.pbc)


@st.composite
def crystals(draw, max_atoms: int = 40, max_pairs: float = 50_000, cutoff: float = 5.0):
    """Triclinic cells of any skew, mixed pbc, atoms inside and outside the cell."""
    n_atoms = draw(st.integers(0, max_atoms))
    lengths = np.array(draw(st.lists(st.floats(1.0, 12.0), min_size=3, max_size=3)))
    skew = draw(st.sampled_from([0.0, 0.3, 1.0, 3.0]))
    off_diagonal = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=9, max_size=9)))
    cell = np.diag(lengths) + skew * off_diagonal.reshape(3, 3) * lengths[:, None]
    pbc = np.array(draw(st.lists(st.booleans(), min_size=3, max_size=3)))
    volume = abs(np.linalg.det(cell))
    # Not numerically flat, and no vector near zero length: ASE bins along the
    # cell vectors even where pbc is off, and misses pairs in a degenerate cell.
    assume(np.linalg.norm(cell, axis=1).min() > 0.5)
    assume(volume > 1e-2 * np.prod(np.linalg.norm(cell, axis=1)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    outside = draw(st.booleans())
    fractional = rng.uniform(-0.7, 1.7, (n_atoms, 3)) if outside else rng.uniform(0, 1, (n_atoms, 3))
    # Bound the output so that the reference stays quick.
    periodic_volume = volume if pbc.all() else max(volume, 1.0)
    assume(n_atoms * n_atoms / periodic_volume * 4.19 * cutoff**3 < max_pairs)
    return Crystal(fractional @ cell, cell, pbc)


def pair_set(i, j, S, d, cutoff):
    """(i, j, S) triples away from the cutoff, where rounding cannot decide."""
    keep = np.abs(np.asarray(d) - cutoff) > BOUNDARY
    S = np.asarray(S)[keep]
    return set(zip(np.asarray(i)[keep].tolist(), np.asarray(j)[keep].tolist(),
                   map(tuple, S.tolist()), strict=True))


def distance_map(i, j, S, d):
    return {(a, b, tuple(s)): x for a, b, s, x in
            zip(np.asarray(i).tolist(), np.asarray(j).tolist(), np.asarray(S).tolist(),
                np.asarray(d).tolist(), strict=True)}


def concatenated(structures: list[Crystal]):
    """(positions, cells, pbcs, counts) of a batch, as batched_neighbor_list takes them."""
    positions = np.concatenate([c.positions for c in structures]).reshape(-1, 3)
    return (positions, np.stack([c.cell for c in structures]),
            np.stack([c.pbc for c in structures]),
            np.array([len(c.positions) for c in structures]))
