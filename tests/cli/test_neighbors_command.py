"""`kozo neighbors` as a user runs it: a real process, real files."""

import json
import subprocess
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

EXAMPLES = Path(__file__).resolve().parents[2] / "kozo" / "examples"


def kozo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kozo", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_help_lists_the_neighbors_command():
    result = kozo("--help")
    assert result.returncode == 0
    assert "neighbors" in result.stdout


def test_neighbors_help_explains_units_and_gives_an_example():
    result = kozo("neighbors", "--help")
    assert result.returncode == 0
    assert "Å" in result.stdout and "Example" in result.stdout


def test_no_command_prints_help_and_fails():
    result = kozo()
    assert result.returncode == 2
    assert "neighbors" in result.stdout


@pytest.mark.parametrize("name", ["NaCl.cif", "Si-diamond.cif", "benzene.xyz"])
def test_json_counts_match_ase_on_the_shipped_examples(name):
    result = kozo("neighbors", EXAMPLES / name, "--cutoff", "4.5", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    atoms = ase.io.read(EXAMPLES / name)
    i, d = ase_neighbor_list("id", atoms, 4.5)
    assert summary["pairs"] == len(i)
    assert summary["shortest_distance"] == pytest.approx(d.min())
    for element, row in summary["elements"].items():
        mask = np.array(atoms.get_chemical_symbols()) == element
        assert row["atoms"] == mask.sum()
        assert row["mean_neighbors"] == pytest.approx(np.bincount(i, minlength=len(atoms))[mask].mean())


def test_several_files_and_formats_in_one_call(tmp_path):
    slab = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 1))
    slab.pbc = [True, True, False]  # extended XYZ keeps mixed pbc; a POSCAR is always periodic
    slab_file = tmp_path / "slab.extxyz"
    ase.io.write(slab_file, slab, format="extxyz")
    poscar = tmp_path / "POSCAR"
    ase.io.write(poscar, bulk("Si", "diamond", a=5.43), format="vasp")
    water = tmp_path / "water.xyz"
    ase.io.write(water, molecule("H2O"), format="xyz")
    result = kozo("neighbors", slab_file, poscar, water, "--cutoff", "3.0", "--json")
    assert result.returncode == 0, result.stderr
    summaries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["pbc"] for s in summaries] == [[True, True, False], [True] * 3, [False] * 3]
    for summary, path in zip(summaries, (slab_file, poscar, water), strict=True):
        assert summary["pairs"] == len(ase_neighbor_list("i", ase.io.read(path), 3.0))
    assert summaries[0]["pairs"] < 12 * 16  # the open surfaces lose neighbours
    assert summaries[2]["formula"] == "H2O" and summaries[2]["pairs"] == 6


def test_summary_shows_a_distance_histogram():
    result = kozo("neighbors", EXAMPLES / "NaCl.cif")
    assert result.returncode == 0
    assert "pair distances (Å)" in result.stdout and "█" in result.stdout


@pytest.mark.parametrize("make_file, message", [
    (lambda path: None, "no such file"),
    (lambda path: path.write_text("this is not a crystal\n"), "not a readable structure file"),
    (lambda path: path.write_bytes(b"\x00\xff" * 100), "not a readable structure file"),
])
def test_bad_files_give_one_line_and_exit_2(tmp_path, make_file, message):
    path = tmp_path / "input.cif"
    make_file(path)
    result = kozo("neighbors", path)
    assert result.returncode == 2
    assert message in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("cutoff", ["-1", "0", "nan"])
def test_bad_cutoff_gives_one_line_naming_the_value(cutoff):
    result = kozo("neighbors", EXAMPLES / "NaCl.cif", "--cutoff", cutoff)
    assert result.returncode == 2
    assert "cutoff must be a positive, finite length in Å" in result.stderr
    assert "Traceback" not in result.stderr


def test_cutoff_that_is_not_a_number_is_refused_by_the_parser():
    result = kozo("neighbors", EXAMPLES / "NaCl.cif", "--cutoff", "five")
    assert result.returncode == 2
    assert "invalid float value" in result.stderr
