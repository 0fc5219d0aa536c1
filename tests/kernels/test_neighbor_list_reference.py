"""The pair set and distances agree with ASE and vesin, case by case."""

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import NeighborList, neighbor_list
from tests.kernels.crystals import Crystal, crystals, distance_map, pair_set

reference_settings = settings(max_examples=300, deadline=None)


def assert_matches_ase(crystal: Crystal, cutoff: float, **options):
    ours = neighbor_list(crystal.positions, crystal.cell, crystal.pbc, cutoff, **options)
    i, j, S, d = ase_neighbor_list("ijSd", crystal.to_ase(), cutoff,
                                   self_interaction=options.get("self_interaction", False))
    assert pair_set(ours.i, ours.j, ours.S, ours.d, cutoff) == pair_set(i, j, S, d, cutoff)
    reference = distance_map(i, j, S, d)
    for key, distance in distance_map(ours.i, ours.j, ours.S, ours.d).items():
        if key in reference:
            assert distance == pytest.approx(reference[key], abs=1e-10)
    return ours


@reference_settings
@given(crystal=crystals(), cutoff=st.floats(0.5, 6.0))
def test_pair_set_and_distances_equal_ase(crystal, cutoff):
    assert_matches_ase(crystal, cutoff)


@reference_settings
@given(crystal=crystals(max_atoms=4, max_pairs=20_000, cutoff=9.0), cutoff=st.floats(3.0, 9.0))
def test_cells_smaller_than_the_cutoff_need_many_images(crystal, cutoff):
    assert_matches_ase(crystal, cutoff)


@settings(max_examples=60, deadline=None)
@given(crystal=crystals(max_atoms=30), cutoff=st.floats(0.5, 5.0))
def test_pair_set_equals_vesin(crystal, cutoff):
    vesin = pytest.importorskip("vesin")
    ours = neighbor_list(crystal.positions, crystal.cell, crystal.pbc, cutoff)
    calculator = vesin.NeighborList(cutoff=cutoff, full_list=True)
    i, j, S, d = calculator.compute(crystal.positions, crystal.cell, crystal.pbc.tolist(),
                                    quantities="ijSd")
    assert pair_set(ours.i, ours.j, ours.S, ours.d, cutoff) == pair_set(i, j, S, d, cutoff)


@pytest.mark.parametrize("pbc", [(True, True, True), (True, True, False), (True, False, False),
                                 (False, False, False), (False, True, False)])
def test_mixed_pbc_on_a_rattled_supercell(pbc):
    atoms = bulk("Cu", "fcc", a=3.6).repeat((3, 2, 4))
    atoms.rattle(0.2, seed=7)
    crystal = Crystal(atoms.positions, atoms.cell.array, np.array(pbc))
    assert_matches_ase(crystal, 5.5)


def test_molecule_without_a_cell():
    rng = np.random.default_rng(3)
    positions = rng.uniform(-4, 4, (25, 3))
    ours = neighbor_list(positions, None, False, 3.0)
    crystal = Crystal(positions, np.zeros((3, 3)), np.zeros(3, bool))
    i, j, S, d = ase_neighbor_list("ijSd", crystal.to_ase(), 3.0)
    assert pair_set(ours.i, ours.j, ours.S, ours.d, 3.0) == pair_set(i, j, S, d, 3.0)
    assert not ours.S.any()


def test_one_atom_sees_only_its_own_images():
    cell = np.array([[2.0, 0, 0], [0.5, 2.2, 0], [0.3, 0.4, 2.5]])
    ours = assert_matches_ase(Crystal(np.array([[0.3, 0.1, 0.2]]), cell, np.ones(3, bool)), 4.0)
    assert len(ours.i) > 0
    assert (ours.i == 0).all() and (ours.j == 0).all()
    assert (np.abs(ours.S).sum(axis=1) > 0).all()  # i==i kept only with a non-zero shift


def test_zero_atoms_give_zero_pairs():
    ours = neighbor_list(np.zeros((0, 3)), 4.0 * np.eye(3), True, 3.0)
    assert ours.i.shape == (0,) and ours.S.shape == (0, 3) and ours.d.shape == (0,)


@reference_settings
@given(crystal=crystals(max_atoms=20), cutoff=st.floats(0.5, 5.0))
def test_self_interaction_adds_exactly_the_zero_shift_self_pairs(crystal, cutoff):
    with_self = assert_matches_ase(crystal, cutoff, self_interaction=True)
    zero_shift_self = (with_self.i == with_self.j) & ~with_self.S.any(axis=1)
    assert zero_shift_self.sum() == len(crystal.positions)
    assert (with_self.d[zero_shift_self] == 0).all()


@settings(max_examples=100, deadline=None)
@given(crystal=crystals(max_atoms=20), cutoff=st.floats(0.5, 5.0))
def test_vectors_follow_the_contract(crystal, cutoff):
    ours = neighbor_list(crystal.positions, crystal.cell, crystal.pbc, cutoff, vectors=True)
    expected = (crystal.positions[ours.j] - crystal.positions[ours.i] + ours.S @ crystal.cell)
    np.testing.assert_allclose(ours.D, expected, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(ours.D, axis=1), ours.d, atol=1e-10)
    assert (ours.d < cutoff).all()


@settings(max_examples=100, deadline=None)
@given(crystal=crystals(max_atoms=25), cutoff=st.floats(0.5, 5.0))
def test_sorted_output_is_ordered_by_i_then_j_then_shift(crystal, cutoff):
    plain = neighbor_list(crystal.positions, crystal.cell, crystal.pbc, cutoff)
    ordered = neighbor_list(crystal.positions, crystal.cell, crystal.pbc, cutoff, sorted=True,
                            vectors=True)
    keys = list(zip(ordered.i.tolist(), ordered.j.tolist(), map(tuple, ordered.S.tolist())))
    assert keys == sorted(keys)
    assert distance_map(*ordered[:4]) == distance_map(*plain[:4])
    expected = crystal.positions[ordered.j] - crystal.positions[ordered.i] + ordered.S @ crystal.cell
    np.testing.assert_allclose(ordered.D, expected, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(crystal=crystals(max_atoms=25), cutoff=st.floats(0.5, 5.0))
def test_float32_positions_give_the_float64_pairs_of_the_same_values(crystal, cutoff):
    positions32 = crystal.positions.astype(np.float32)
    ours = neighbor_list(positions32, crystal.cell, crystal.pbc, cutoff)
    reference = neighbor_list(positions32.astype(np.float64), crystal.cell, crystal.pbc, cutoff)
    assert ours.d.dtype == np.float32
    assert pair_set(*ours[:4], cutoff) == pair_set(*reference[:4], cutoff)


@pytest.mark.parametrize("repeat", [(2, 2, 2), (3, 1, 2)])
def test_supercell_multiplies_pairs_and_keeps_the_distance_multiset(repeat):
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.cell[2] += [0.7, -0.4, 0.0]  # triclinic
    atoms.rattle(0.05, seed=1)
    supercell = atoms.repeat(repeat)
    primitive = neighbor_list(atoms.positions, atoms.cell.array, True, 5.0)
    tiled = neighbor_list(supercell.positions, supercell.cell.array, True, 5.0)
    factor = int(np.prod(repeat))
    assert len(tiled.d) == factor * len(primitive.d)
    np.testing.assert_allclose(np.sort(tiled.d), np.sort(np.repeat(primitive.d, factor)),
                               atol=1e-10)


def test_reused_calculator_gives_fresh_results_for_each_structure():
    calculator = NeighborList(4.0)
    small = bulk("Cu", "fcc", a=3.6)
    large = small.repeat(4)
    first_large = calculator.compute(large.positions, large.cell.array, True)
    first_large = tuple(np.copy(a) for a in first_large[:4])
    small_result = calculator.compute(small.positions, small.cell.array, True)
    assert len(small_result.i) == len(neighbor_list(small.positions, small.cell.array, True, 4.0).i)
    again = calculator.compute(large.positions, large.cell.array, True)
    assert distance_map(*again[:4]) == distance_map(*first_large)


def test_strongly_skewed_cell_matches_ase():
    cell = np.array([[4.0, 0, 0], [11.7, 0.9, 0], [-6.3, 3.1, 0.8]]) * 1.5
    rng = np.random.default_rng(11)
    crystal = Crystal(rng.uniform(0, 1, (12, 3)) @ cell, cell, np.ones(3, bool))
    assert_matches_ase(crystal, 5.0)


def test_pairs_exactly_at_the_cutoff_are_left_out():
    cell = 2.0 * np.eye(3)  # simple cubic: six images at exactly 2.0 Å
    at_cutoff = neighbor_list(np.zeros((1, 3)), cell, True, 2.0)
    just_beyond = neighbor_list(np.zeros((1, 3)), cell, True, np.nextafter(2.0, 3.0))
    assert len(at_cutoff.i) == 0
    assert len(just_beyond.i) == 6
    assert sorted(map(tuple, just_beyond.S.tolist())) == sorted(
        [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)])


def test_degenerate_cell_without_pbc_still_finds_every_pair():
    # Found by hypothesis: ASE misses the 0.61 Å pair here because it bins along
    # a cell vector of 1e-16 Å although no direction is periodic.
    positions = np.array([[0.0205, 0.3108, 0.0410], [0.4564, 1.7260, 0.9128],
                          [0.2718, 1.2731, 0.5436]])
    cell = np.array([[1e-16, 0, 0], [0, 1.0, 0], [0.5, 1.0, 1.0]])
    ours = neighbor_list(positions, cell, False, 1.0)
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=2)
    expected = {(a, b) for a in range(3) for b in range(3) if a != b and distances[a, b] < 1.0}
    assert set(zip(ours.i.tolist(), ours.j.tolist(), strict=True)) == expected
