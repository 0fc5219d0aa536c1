"""The records every data set reader produces: samples with named targets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kozo.errors import KozoError
from model.structure_files import Structure

# Units of the target columns found in the data sets at hand (see each SOURCE.md).
KNOWN_UNITS = {
    "heat_all": "eV/cell", "heat_ref": "eV/cell", "e_form": "eV/cell",
    "dir_gap": "eV", "ind_gap": "eV", "gap_gllbsc": "eV", "vbm": "eV", "cbm": "eV",
    "fermi_level": "eV", "fermi_width": "eV", "mu_b": "μB",
    "energy_per_atom": "eV/atom", "n": "1 (refractive index)",
    "bandgap_optb88vdw": "eV",
}


class DatasetError(KozoError):
    """A data set that cannot be read: the message names the file and the row."""


@dataclass(frozen=True)
class Sample:
    id: str  # stable identifier from the source (material id, file name or row index)
    structure: Structure
    targets: dict[str, float]  # target name → value in the unit of Dataset.units


@dataclass
class Dataset:
    name: str
    samples: list[Sample]
    units: dict[str, str]  # target name → unit ("" when the source does not say)
    fingerprint: str  # sha256 of the source bytes: changes whenever the data change
    source: str = ""
    target_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def target(self, name: str) -> np.ndarray:
        """One target over all samples, [n_samples], NaN where a sample lacks it."""
        if name not in self.units:
            raise DatasetError(f"{self.source}: no target {name!r}; "
                               f"it has {', '.join(self.target_names) or 'none'}")
        return np.array([s.targets.get(name, np.nan) for s in self.samples], dtype=np.float64)


def fingerprint_files(paths: list[Path]) -> str:
    """sha256 over the bytes of the given files, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def from_pymatgen(structure, source: str) -> Structure:
    """Our plain-array Structure from a pymatgen one; disordered sites are refused."""
    if not structure.is_ordered:
        raise DatasetError(f"{source}: partial occupancies are not supported")
    return Structure(positions=np.asarray(structure.cart_coords, dtype=np.float64),
                     cell=np.asarray(structure.lattice.matrix, dtype=np.float64),
                     pbc=np.asarray(structure.lattice.pbc, dtype=bool),
                     numbers=np.asarray(structure.atomic_numbers, dtype=np.int64),
                     source=source)


def to_pymatgen_structure(structure: Structure):
    """A pymatgen Structure from ours (the inverse of from_pymatgen), for pymatgen's
    matchers, reductions and writers."""
    from pymatgen.core import Lattice, Structure as PymatgenStructure
    return PymatgenStructure(Lattice(structure.cell), structure.numbers.tolist(),
                             structure.positions, coords_are_cartesian=True)


def parse_number(text) -> float | None:
    """A float from a CSV or JSON cell; None for text, booleans and blanks."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, (int, float)):
        return float(text)
    stripped = str(text).strip()
    if stripped.lower() in ("", "true", "false"):
        return None
    try:
        return float(stripped)
    except ValueError:
        return None
