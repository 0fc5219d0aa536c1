"""Read structure files into plain arrays, without torch.

CIF, POSCAR/CONTCAR, XYZ and extended XYZ, through ASE. The same reader serves
`kozo neighbors`, `kozo predict` and the edge's quick check, so every path sees
a file the same way. Errors are StructureFileError with the file named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kozo.errors import KozoError


class StructureFileError(KozoError):
    """A file that cannot be read as a structure."""


@dataclass(frozen=True)
class Structure:
    positions: np.ndarray  # [n_atoms, 3] Å
    cell: np.ndarray  # [3, 3] Å, rows are lattice vectors (zeros for a molecule)
    pbc: np.ndarray  # [3] bool
    numbers: np.ndarray  # [n_atoms] atomic numbers
    source: str  # where it came from, for messages

    @property
    def symbols(self) -> list[str]:
        from ase.data import chemical_symbols
        return [chemical_symbols[z] for z in self.numbers]

    @property
    def formula(self) -> str:
        from ase.formula import Formula
        return Formula.from_list(self.symbols).format("hill") if len(self.numbers) else "(empty)"


def _format_for(path: Path) -> str | None:
    """ASE's format name by file name; None lets ASE guess from the content."""
    name = path.name.lower()
    if name.endswith(".cif"):
        return "cif"
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if name.startswith(("poscar", "contcar")) or name.endswith((".vasp", ".poscar")):
        return "vasp"
    return None


def read_structure(path: str | Path) -> Structure:
    """The first structure in a CIF, POSCAR or (extended) XYZ file."""
    path = Path(path)
    if not path.is_file():
        raise StructureFileError(f"{path}: no such file")
    try:
        import ase.io
    except ImportError:
        raise StructureFileError("reading structure files needs ASE: "
                                 "pip install 'kozo[structures]'") from None
    try:
        atoms = ase.io.read(path, index=0, format=_format_for(path))
    except Exception as error:  # ASE raises many kinds for a malformed file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StructureFileError(f"{path}: not a readable structure file ({reason})") from None
    if isinstance(atoms, list):
        if not atoms:
            raise StructureFileError(f"{path}: the file holds no structure")
        atoms = atoms[0]
    return Structure(positions=np.asarray(atoms.positions, dtype=np.float64),
                     cell=np.asarray(atoms.cell.array, dtype=np.float64),
                     pbc=np.asarray(atoms.pbc, dtype=bool),
                     numbers=np.asarray(atoms.numbers, dtype=np.int64),
                     source=str(path))
