"""Crystals as the generator sees them: fractional coordinates, cells, element indices.

Cells are Niggli-reduced first (as CDVAE and DiffCSP prepare their data), so that
one crystal is always offered through one canonical cell. Properties used for
conditioning are standardised with the training split's mean and std; a missing
value (NaN, e.g. a band gap the source lacks) simply leaves that condition out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from model.datasets.records import Dataset, to_pymatgen_structure
from model.structure_files import Structure


@dataclass
class CrystalSet:
    ids: list[str]
    fractional: np.ndarray  # [n_atoms_total, 3] in [0, 1)
    cells: np.ndarray  # [n_crystals, 3, 3] Å, rows are lattice vectors
    numbers: np.ndarray  # [n_atoms_total] atomic numbers
    atom_counts: np.ndarray  # [n_crystals]
    properties: np.ndarray  # [n_crystals, n_properties], raw units, NaN when unknown

    @property
    def atom_starts(self) -> np.ndarray:
        return np.cumsum(self.atom_counts) - self.atom_counts

    def __len__(self) -> int:
        return len(self.atom_counts)

    def structure(self, k: int) -> Structure:
        start, count = self.atom_starts[k], self.atom_counts[k]
        cell = self.cells[k]
        return Structure(positions=self.fractional[start:start + count] @ cell, cell=cell,
                         pbc=np.ones(3, dtype=bool),
                         numbers=self.numbers[start:start + count], source=self.ids[k])


def niggli_reduced(structure: Structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fractional [n, 3] in [0, 1), cell [3, 3] Å, atomic numbers [n]) of the Niggli cell."""
    crystal = to_pymatgen_structure(structure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reduced = crystal.get_reduced_structure("niggli")
    fractional = np.mod(reduced.frac_coords, 1.0)
    return fractional, np.asarray(reduced.lattice.matrix), np.asarray(reduced.atomic_numbers)


def crystals_from_dataset(dataset: Dataset, properties: list[str], *, niggli: bool = True
                          ) -> CrystalSet:
    fractional, cells, numbers, counts, ids = [], [], [], [], []
    for sample in dataset.samples:
        s = sample.structure
        if niggli:
            f, cell, z = niggli_reduced(s)
        else:
            cell, z = s.cell, s.numbers
            f = np.mod(np.linalg.solve(cell.T, s.positions.T).T, 1.0)
        fractional.append(f)
        cells.append(cell)
        numbers.append(z)
        counts.append(len(z))
        ids.append(sample.id)
    values = np.array([[sample.targets.get(p, np.nan) for p in properties]
                       for sample in dataset.samples], dtype=np.float64).reshape(
        len(dataset.samples), len(properties))
    return CrystalSet(ids=ids, fractional=np.concatenate(fractional), cells=np.stack(cells),
                      numbers=np.concatenate(numbers).astype(np.int64),
                      atom_counts=np.asarray(counts, dtype=np.int64), properties=values)


@dataclass
class CrystalBatch:
    fractional: torch.Tensor  # [n_atoms, 3]
    cells: torch.Tensor  # [n_graphs, 3, 3] Å
    types: torch.Tensor  # [n_atoms] int64, index into the generator's element vocabulary
    graph_index: torch.Tensor  # [n_atoms] int64
    properties: torch.Tensor  # [n_graphs, n_properties] standardised, NaN when unknown

    @property
    def n_graphs(self) -> int:
        return self.cells.shape[0]


def collate_crystals(crystals: CrystalSet, indices: np.ndarray, vocabulary: list[int],
                     property_mean: np.ndarray, property_std: np.ndarray) -> CrystalBatch:
    indices = np.asarray(indices, dtype=np.int64)
    starts, counts = crystals.atom_starts[indices], crystals.atom_counts[indices]
    atoms = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts, strict=True)])
    lookup = {z: k for k, z in enumerate(vocabulary)}
    types = np.array([lookup[z] for z in crystals.numbers[atoms]], dtype=np.int64)
    standardised = (crystals.properties[indices] - property_mean) / property_std
    return CrystalBatch(
        fractional=torch.from_numpy(crystals.fractional[atoms]).float(),
        cells=torch.from_numpy(crystals.cells[indices]).float(),
        types=torch.from_numpy(types),
        graph_index=torch.from_numpy(np.repeat(np.arange(len(indices)), counts)),
        properties=torch.from_numpy(standardised).float())
