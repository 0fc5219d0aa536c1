"""Samples for the simulated instrument: perovskite structures, with reference values when known.

On a fresh clone there is no data set, so samples are cubic ABX3 perovskites
built from the Pm-3m prototype with pymatgen (lattice constant from the ionic
radii, small random strain). Given a CDVAE-layout CSV (perov_5), samples are
its rows instead and carry their DFT values, so that predictions can be
compared with a reference in the notebook.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from kozo.errors import KozoError

# Cations and anions that the shipped perovskite model has seen in perov_5.
A_SITE = ["Sr", "Ba", "Ca", "K", "Na", "La", "Y", "Rb", "Cs", "Pb", "Bi", "Cd"]
B_SITE = ["Ti", "Zr", "Hf", "Nb", "Ta", "Sn", "V", "Mn", "Fe", "Co", "Ni", "Ga", "Al", "In"]
ANIONS = ["O", "O", "O", "N", "F", "S"]  # oxides most often, as in the lab


@dataclass
class Sample:
    name: str
    cif: str  # the CIF text as the instrument writes it
    reference: dict[str, float] = field(default_factory=dict)  # DFT values, when known
    units: dict[str, str] = field(default_factory=dict)


def prototype_samples(seed: int = 0) -> Iterator[Sample]:
    """An endless stream of strained cubic ABX3 perovskites."""
    from pymatgen.core import Element, Lattice, Structure

    generator = np.random.default_rng(seed)
    number = 0
    while True:
        a, b, x = (str(generator.choice(site)) for site in (A_SITE, B_SITE, ANIONS))
        radius_b = Element(b).average_ionic_radius or 0.7
        radius_x = Element(x).average_ionic_radius or 1.4
        lattice_constant = 2.0 * (float(radius_b) + float(radius_x))  # B-X-B along an edge
        strain = 1.0 + generator.normal(0.0, 0.02, size=3)
        structure = Structure(
            Lattice.orthorhombic(*(lattice_constant * strain)), [a, b, x, x, x],
            [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]])
        number += 1
        yield Sample(name=f"{a}{b}{x}3-{number:04d}", cif=structure.to(fmt="cif"))


def dataset_samples(path: Path, seed: int = 0) -> Iterator[Sample]:
    """Rows of a CDVAE-layout CSV (a file, or a folder holding train/val/test CSVs), shuffled."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise KozoError(f"{path}: no CDVAE-layout CSV file here (expected *.csv with a cif column)")
    csv.field_size_limit(sys.maxsize)  # a CIF per cell exceeds the default limit
    rows = []
    for file in files:
        with file.open(newline="") as handle:
            rows.extend(csv.DictReader(handle))
    if not rows or "cif" not in rows[0]:
        raise KozoError(f"{path}: the CSV has no 'cif' column")
    references = [c for c in rows[0] if c in ("heat_all", "ind_gap", "dir_gap", "energy_per_atom")]
    units = {c: "eV/cell" if c == "heat_all" else "eV/atom" if c.endswith("per_atom") else "eV"
             for c in references}
    order = np.random.default_rng(seed).permutation(len(rows))
    for position in order:
        row = rows[position]
        values = {c: float(row[c]) for c in references if row.get(c) not in (None, "")}
        name = f"{row.get('formula') or 'sample'}-{row.get('material_id') or position}"
        yield Sample(name=name, cif=row["cif"], reference=values, units=units)
