"""QM9 from the qm9pack wheel: counts, geometry, units and reference energies."""

import ast

import numpy as np
import pandas
import pytest
from ase.units import Hartree

from model.datasets import read_dataset
from model.datasets.qm9 import ATOM_REFERENCE_HARTREE, qm9_data_folder


@pytest.fixture(scope="module")
def first_molecules():
    return read_dataset("qm9", limit=50)


@pytest.fixture(scope="module")
def raw_rows():
    """The same rows read by pandas, independently of our reader."""
    return pandas.read_csv(qm9_data_folder() / "qm9_part1.csv", nrows=50)


def test_methane_comes_first_with_its_geometry(first_molecules):
    methane = first_molecules.samples[0]
    assert methane.id == "dsgdb9nsd_000001"
    assert methane.structure.formula == "CH4" and not methane.structure.pbc.any()
    carbon = methane.structure.positions[0]
    bonds = np.linalg.norm(methane.structure.positions[1:] - carbon, axis=1)
    np.testing.assert_allclose(bonds, 1.0919, atol=2e-3)  # B3LYP C–H bond length


def test_energies_are_in_ev_and_atomization_subtracts_the_atoms(first_molecules, raw_rows):
    for sample, (_index, row) in zip(first_molecules.samples, raw_rows.iterrows(), strict=True):
        symbols = ast.literal_eval(row["Elements"])
        atoms = sum(ATOM_REFERENCE_HARTREE["U0"][s] for s in symbols)
        assert sample.targets["U0"] == pytest.approx(row["InternalEnergy_0K_au"] * Hartree, abs=1e-4)
        assert sample.targets["U0_atom"] == pytest.approx(
            (row["InternalEnergy_0K_au"] - atoms) * Hartree, abs=1e-4)
        assert sample.targets["gap"] == pytest.approx(
            sample.targets["lumo"] - sample.targets["homo"], abs=0.01)
    assert first_molecules.units["U0_atom"] == "eV" and first_molecules.units["mu"] == "D"


def test_atomization_energies_are_negative_and_grow_with_size(first_molecules):
    energies = first_molecules.target("U0_atom")
    sizes = np.array([len(s.structure.numbers) for s in first_molecules.samples])
    assert (energies < 0).all()
    assert np.corrcoef(sizes, energies)[0, 1] < -0.8  # more bonds, more binding


def test_all_130831_molecules_are_read():
    dataset = read_dataset("qm9")
    assert len(dataset) == 130_831
    assert len({s.id for s in dataset.samples}) == 130_831
    assert {int(z) for s in dataset.samples[:2000] for z in s.structure.numbers} <= {1, 6, 7, 8, 9}


def test_a_limited_read_has_its_own_fingerprint(first_molecules):
    assert first_molecules.fingerprint != read_dataset("qm9", limit=10).fingerprint
