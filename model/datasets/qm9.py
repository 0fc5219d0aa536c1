"""QM9 (130,831 molecules, B3LYP/6-31G(2df,p)) from the files inside the `qm9pack` wheel.

Targets in the units the literature reports (SchNet, PaiNN): energies in eV,
converted from Hartree; `U0_atom`, `U_atom`, `H_atom` and `G_atom` subtract the
per-element reference energies of the isolated atoms (QM9's atomref table), so
that a model learns atomization energies rather than sums of atom energies.
The package's own loader needs pkg_resources and pandas; only its data is used.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from pathlib import Path

import numpy as np

from model.datasets.progress import progress
from model.datasets.records import Dataset, DatasetError, Sample, fingerprint_files
from model.structure_files import Structure

HARTREE_IN_EV = 27.211386245988  # CODATA 2018
PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
SYMBOL_NUMBERS = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}

# Energies of the isolated atoms, Hartree (QM9 atomref: Ramakrishnan et al. 2014).
ATOM_REFERENCE_HARTREE = {
    "U0": {"H": -0.500273, "C": -37.846772, "N": -54.583861, "O": -75.064579, "F": -99.718730},
    "U": {"H": -0.498857, "C": -37.845355, "N": -54.582445, "O": -75.063162, "F": -99.717314},
    "H": {"H": -0.497912, "C": -37.844411, "N": -54.581501, "O": -75.062219, "F": -99.716370},
    "G": {"H": -0.510927, "C": -37.861317, "N": -54.598897, "O": -75.079532, "F": -99.733544},
}

# target name → (CSV column, factor to the unit, unit)
TARGET_COLUMNS = {
    "mu": ("Dipole_debye", 1.0, "D"),
    "alpha": ("Polarizability_bohr3", 1.0, "a0^3"),
    "homo": ("HOMO_au", HARTREE_IN_EV, "eV"),
    "lumo": ("LUMO_au", HARTREE_IN_EV, "eV"),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_IN_EV, "eV"),
    "r2": ("R2_bohr2", 1.0, "a0^2"),
    "zpve": ("ZPVE_au", HARTREE_IN_EV, "eV"),
    "U0": ("InternalEnergy_0K_au", HARTREE_IN_EV, "eV"),
    "U": ("InternalEnergy_298K_au", HARTREE_IN_EV, "eV"),
    "H": ("Enthalphy_298K_au", HARTREE_IN_EV, "eV"),
    "G": ("GibbsFreeEnergy_298K_au", HARTREE_IN_EV, "eV"),
    "cv": ("Heatcapacity_Cv_cal_mol_K", 1.0, "cal/(mol K)"),
}


def qm9_data_folder() -> Path:
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("QM9 needs the qm9pack package: pip install qm9pack "
                           "(or pip install 'kozo[train]')")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    missing = [part for part in PARTS if not (folder / part).is_file()]
    if missing:
        raise DatasetError(f"{folder}: qm9pack is missing {', '.join(missing)}")
    return folder


def _rows(folder: Path, limit: int | None):
    count = 0
    for part in PARTS:
        with (folder / part).open(newline="") as handle:
            for row in csv.DictReader(handle):
                if limit is not None and count >= limit:
                    return
                count += 1
                yield row


def read_qm9(limit: int | None = None) -> Dataset:
    """QM9 molecules in file order; `limit` reads only the first ones (for quick runs)."""
    folder = qm9_data_folder()
    csv.field_size_limit(1 << 24)
    samples = []
    total = limit if limit is not None else 130_831
    for row in progress(_rows(folder, limit), "reading QM9", total=total):
        symbols = json.loads(row["Elements"].replace("'", '"'))
        # Numbers like "0." and "1." are not JSON: read them with a number pattern.
        positions = np.array(NUMBER.findall(row["XYZ_Ang"]), dtype=np.float64).reshape(-1, 3)
        if len(symbols) != len(positions):
            raise DatasetError(f"{row['XYZ_file']}: {len(symbols)} elements but "
                               f"{len(positions)} positions")
        targets = {name: float(row[column]) * factor
                   for name, (column, factor, _unit) in TARGET_COLUMNS.items()}
        for energy, references in ATOM_REFERENCE_HARTREE.items():
            atoms = sum(references[symbol] for symbol in symbols) * HARTREE_IN_EV
            targets[f"{energy}_atom"] = targets[energy] - atoms
        structure = Structure(positions=positions, cell=np.zeros((3, 3)),
                              pbc=np.zeros(3, dtype=bool),
                              numbers=np.array([SYMBOL_NUMBERS[s] for s in symbols], np.int64),
                              source=row["XYZ_file"])
        samples.append(Sample(id=row["XYZ_file"].removesuffix(".xyz"), structure=structure,
                              targets=targets))
    units = {name: unit for name, (_c, _f, unit) in TARGET_COLUMNS.items()}
    units.update({f"{energy}_atom": "eV" for energy in ATOM_REFERENCE_HARTREE})
    fingerprint = fingerprint_files([folder / part for part in PARTS])
    if limit is not None:
        fingerprint = f"{fingerprint}:first-{limit}"
    return Dataset(name="qm9" if limit is None else f"qm9-first-{limit}", samples=samples,
                   units=units, fingerprint=fingerprint, source=str(folder),
                   target_names=list(units))
