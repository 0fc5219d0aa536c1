"""bench/perov_sites.py tells the A site (12-fold) from the B site (6-fold) by the distance
to the nearest anion, so it must call SrTiO3 as built (Sr on A) and flag it swapped."""

from pymatgen.core import Lattice, Structure

from bench.perov_sites import larger_cation_on_a_site

FRACTIONAL = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]


def test_the_larger_cation_is_found_on_the_a_site_of_srtio3_and_not_when_swapped():
    strontium_on_a = Structure(Lattice.cubic(3.905), ["Sr", "Ti", "O", "O", "O"], FRACTIONAL)
    titanium_on_a = Structure(Lattice.cubic(3.905), ["Ti", "Sr", "O", "O", "O"], FRACTIONAL)
    assert larger_cation_on_a_site(strontium_on_a) is True
    assert larger_cation_on_a_site(titanium_on_a) is False


def test_a_cell_that_is_not_abx3_is_not_judged():
    rock_salt = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert larger_cation_on_a_site(rock_salt) is None
