"""Bad input gets a ValueError that names what arrived and what was expected."""

import numpy as np
import pytest

from kernels import NeighborList, batched_neighbor_list, max_pairs, neighbor_list

CELL = 4.0 * np.eye(3)


@pytest.mark.parametrize("positions, message", [
    (np.zeros((4, 2)), r"shape \(N, 3\) in Å; got \(4, 2\)"),
    (np.zeros(3), r"got \(3,\)"),
    (np.array([["a", "b", "c"]]), r"real-valued array .* got dtype <U1"),
    (np.zeros((2, 3), dtype=complex), r"got dtype complex128"),
])
def test_wrong_positions_are_rejected_naming_shape_or_dtype(positions, message):
    with pytest.raises(ValueError, match=message):
        neighbor_list(positions, CELL, True, 2.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_positions_are_rejected_naming_the_atom(bad):
    positions = np.zeros((5, 3))
    positions[3, 2] = bad
    with pytest.raises(ValueError, match=r"atom 3 has NaN or inf"):
        neighbor_list(positions, CELL, True, 2.0)


@pytest.mark.parametrize("cutoff", [0.0, -1.0, float("nan"), float("inf"), "five", None])
def test_bad_cutoff_is_rejected_naming_the_value(cutoff):
    with pytest.raises(ValueError, match=r"cutoff must be a positive, finite length in Å; got"):
        neighbor_list(np.zeros((1, 3)), CELL, True, cutoff)


def test_negative_cutoff_is_rejected_naming_the_value():
    with pytest.raises(ValueError, match=r"got -1\.0"):
        neighbor_list(np.zeros((1, 3)), CELL, [True] * 3, cutoff=-1.0)


@pytest.mark.parametrize("cell, pbc", [
    (np.zeros((3, 3)), True),
    (np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]]), True),
    (np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]]), [True, True, False]),
    (np.array([[0.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]), [True, False, False]),
])
def test_singular_cell_along_a_periodic_direction_is_rejected(cell, pbc):
    with pytest.raises(ValueError, match=r"cell is singular along its periodic directions"):
        neighbor_list(np.zeros((2, 3)), cell, pbc, 2.0)


def test_singular_cell_along_a_non_periodic_direction_is_fine():
    cell = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 0]])
    result = neighbor_list(np.array([[0.0, 0, 0], [0, 0, 1.0]]), cell, [True, True, False], 2.0)
    assert len(result.i) == 2


@pytest.mark.parametrize("cell", [np.eye(2), np.zeros((3, 3, 1))])
def test_wrong_cell_shape_is_rejected(cell):
    with pytest.raises(ValueError, match=r"cell must have shape \(3, 3\)"):
        neighbor_list(np.zeros((1, 3)), cell, True, 2.0)


def test_nan_cell_is_rejected():
    cell = CELL.copy()
    cell[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"lattice vector 1 has NaN or inf"):
        neighbor_list(np.zeros((1, 3)), cell, True, 2.0)


@pytest.mark.parametrize("pbc", [[True, False], "yes", [2, 0, 0]])
def test_bad_pbc_is_rejected(pbc):
    with pytest.raises(ValueError, match=r"pbc must be one bool or three bools"):
        neighbor_list(np.zeros((1, 3)), CELL, pbc, 2.0)


def test_periodic_without_a_cell_is_rejected():
    with pytest.raises(ValueError, match=r"needs a cell"):
        neighbor_list(np.zeros((1, 3)), None, True, 2.0)


def test_request_beyond_memory_says_how_many_pairs_before_allocating():
    # A dense cluster: every atom sees every other, (1.5 n)^2 pairs against room for n^2.
    n_atoms = int(1.5 * np.sqrt(max_pairs()))
    positions = np.random.default_rng(0).uniform(0, 1, (n_atoms, 3))
    with pytest.raises(ValueError, match=r"would produce about [\d,]+ pairs \([\d,.]+ GiB\)"):
        neighbor_list(positions, None, False, 10.0)


def test_too_many_periodic_images_are_refused_with_their_count():
    with pytest.raises(ValueError, match=r"needs [\d,]+ periodic images of 1 atoms"):
        neighbor_list(np.zeros((1, 3)), 0.01 * np.eye(3), True, 50.0)


def test_refused_request_leaves_a_calculator_usable():
    calculator = NeighborList(3.0)
    with pytest.raises(ValueError):
        calculator.compute(np.full((2, 3), np.nan), CELL, True)
    result = calculator.compute(np.zeros((1, 3)), CELL, True)
    assert len(result.i) == 0  # 4 Å cell, 3 Å cutoff: no images in range


def test_max_pairs_grows_with_memory_and_shrinks_with_vectors():
    assert max_pairs(vectors=True) < max_pairs() < 2**40


@pytest.mark.parametrize("counts, message", [
    (np.array([2, 2]), r"counts sum to 4 atoms but positions hold 5"),
    (np.array([6, -1]), r"counts must be non-negative; got -1 at structure 1"),
    (np.array([2.5, 2.5]), r"counts must be a 1-D integer array"),
])
def test_batch_counts_must_match_the_positions(counts, message):
    with pytest.raises(ValueError, match=message):
        batched_neighbor_list(np.zeros((5, 3)), np.stack([CELL] * 2), True, counts, 2.0)


def test_batch_cells_must_match_the_structures():
    with pytest.raises(ValueError, match=r"cells must have shape \(2, 3, 3\)"):
        batched_neighbor_list(np.zeros((4, 3)), np.stack([CELL] * 3), True, np.array([2, 2]), 2.0)
