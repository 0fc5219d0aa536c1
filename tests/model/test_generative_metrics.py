"""Scores of generated crystals against known answers: a crystal matches itself with
RMSE 0; a displaced atom gives the RMSE computed by hand; validity and uniqueness."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from model.generative.evaluation import (compositionally_valid, csp_metrics, de_novo_metrics,
                                         structurally_valid, uniqueness)

SITES = ["Sr", "Ti", "O", "O", "O"]
FRACTIONAL = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]


def perovskite(a=3.9, c=None, species=SITES):
    lattice = Lattice.cubic(a) if c is None else Lattice.tetragonal(a, c)
    return Structure(lattice, species, FRACTIONAL)


def test_references_matched_against_themselves_score_100_percent_and_rmse_0():
    references = [perovskite(a) for a in (3.8, 3.9, 4.1)] + [perovskite(4.0, species=["Ba", "Zr", "O", "O", "O"])]
    result = csp_metrics(references, references)
    assert result["match_rate"] == 100.0
    assert result["rmse"] == pytest.approx(0.0, abs=1e-12)
    assert result["n"] == 4


def test_one_displaced_atom_gives_the_rmse_computed_by_hand():
    a, delta = 4.0, 0.1
    shifted = perovskite(a)
    shifted.translate_sites([2], [delta, 0, 0], frac_coords=False)
    # the matcher removes the mean displacement: one atom moves by 0.8 δ, four by 0.2 δ,
    # RMS = √((0.64 + 4 · 0.04) δ² / 5) = 0.4 δ, normalised by (V / N)^⅓
    expected = 0.4 * delta / (a ** 3 / 5) ** (1 / 3)
    result = csp_metrics([shifted], [perovskite(a)])
    assert result["match_rate"] == 100.0
    assert result["rmse"] == pytest.approx(expected, rel=1e-3)


def test_a_stretched_cell_or_a_missing_sample_is_a_miss():
    references = [perovskite(3.9), perovskite(3.9), perovskite(3.9)]
    generated = [perovskite(3.9), perovskite(3.9, c=6.5), None]
    result = csp_metrics(generated, references)
    assert result["match_rate"] == pytest.approx(100 / 3)
    assert result["rmse"] == pytest.approx(0.0, abs=1e-12)


def test_swapped_a_and_b_sites_match_the_framework_but_not_the_crystal():
    references = [perovskite(3.9), perovskite(3.9), perovskite(3.9)]
    swapped = perovskite(3.9, species=["Ti", "Sr", "O", "O", "O"])  # Ti 12-fold, Sr 6-fold
    generated = [perovskite(3.9), swapped, perovskite(3.9, c=6.5)]
    result = csp_metrics(generated, references)
    assert result["match_rate"] == pytest.approx(100 / 3)
    assert result["framework_match_rate"] == pytest.approx(200 / 3)


def test_no_match_gives_a_nan_rmse():
    assert np.isnan(csp_metrics([perovskite(3.9, c=7.0)], [perovskite(3.9)])["rmse"])


def test_structural_validity_refuses_atoms_closer_than_half_an_angstrom():
    close = Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.08, 0, 0]])  # 0.4 Å
    across_the_boundary = Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0.01, 0, 0], [0.95, 0, 0]])  # 0.3 Å via an image
    apart = Structure(Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert not structurally_valid(close)
    assert not structurally_valid(across_the_boundary)
    assert structurally_valid(apart)


def test_compositional_validity_is_charge_neutrality():
    lattice = Lattice.cubic(5.0)
    assert compositionally_valid(Structure(lattice, ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    assert not compositionally_valid(Structure(lattice, ["Li", "F", "F"],
                                               [[0, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0.5]]))
    assert compositionally_valid(Structure(lattice, ["C", "C"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    assert compositionally_valid(perovskite())


def test_uniqueness_counts_distinct_crystals():
    twin = perovskite(3.9)
    twin.translate_sites(list(range(5)), [0.1, 0.2, 0.3])  # the same crystal, shifted
    crystals = [perovskite(3.9), twin, perovskite(3.9, species=["Ba", "Zr", "O", "O", "O"])]
    assert uniqueness(crystals) == pytest.approx(2 / 3)
    scores = de_novo_metrics(crystals)
    assert scores["uniqueness"] == pytest.approx(200 / 3)
    assert scores["structural_validity"] == 100.0 and scores["compositional_validity"] == 100.0
