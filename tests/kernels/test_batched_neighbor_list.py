"""The batched form equals the single form, structure by structure."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import batched_neighbor_list, neighbor_list
from tests.kernels.crystals import concatenated, crystals, distance_map


@settings(max_examples=60, deadline=None)
@given(structures=st.lists(crystals(max_atoms=15), min_size=1, max_size=8),
       cutoff=st.floats(0.5, 5.0), sort=st.booleans())
def test_batched_equals_single_structure_by_structure(structures, cutoff, sort):
    positions, cells, pbcs, counts = concatenated(structures)
    batch = batched_neighbor_list(positions, cells, pbcs, counts, cutoff, sorted=sort,
                                  vectors=True)
    assert batch.pair_counts.sum() == len(batch.i)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    pair_offsets = np.concatenate([[0], np.cumsum(batch.pair_counts)])
    for s, crystal in enumerate(structures):
        single = neighbor_list(crystal.positions, crystal.cell, crystal.pbc, cutoff, sorted=sort)
        part = slice(pair_offsets[s], pair_offsets[s + 1])
        shifted = (batch.i[part] - offsets[s], batch.j[part] - offsets[s], batch.S[part],
                   batch.d[part])
        assert distance_map(*shifted) == distance_map(*single[:4])
        if sort:
            np.testing.assert_array_equal(shifted[0], single.i)
            np.testing.assert_array_equal(shifted[1], single.j)
    expected = positions[batch.j] - positions[batch.i] + np.einsum(
        "pk,pkc->pc", batch.S, cells[np.repeat(np.arange(len(structures)), batch.pair_counts)])
    np.testing.assert_allclose(batch.D, expected, atol=1e-9)


def test_one_pbc_for_all_structures_is_broadcast():
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 4, (10, 3))
    cells = np.stack([4.0 * np.eye(3)] * 2)
    batch = batched_neighbor_list(positions, cells, True, np.array([4, 6]), 3.0)
    first = neighbor_list(positions[:4], cells[0], True, 3.0)
    assert batch.pair_counts[0] == len(first.i)


def test_empty_structures_inside_a_batch_own_no_pairs():
    rng = np.random.default_rng(1)
    positions = rng.uniform(0, 5, (7, 3))
    cells = np.stack([5.0 * np.eye(3)] * 3)
    batch = batched_neighbor_list(positions, cells, True, np.array([0, 7, 0]), 3.0)
    assert batch.pair_counts[0] == 0 and batch.pair_counts[2] == 0
    assert batch.pair_counts[1] == len(neighbor_list(positions, cells[1], True, 3.0).i)


def test_a_bad_structure_is_named_by_its_index():
    positions = np.zeros((6, 3))
    positions[4, 1] = np.nan
    cells = np.stack([5.0 * np.eye(3)] * 2)
    with pytest.raises(ValueError, match=r"atom 1 in structure 1"):
        batched_neighbor_list(positions, cells, True, np.array([3, 3]), 2.0)


@settings(max_examples=30, deadline=None)
@given(structures=st.lists(crystals(max_atoms=15), min_size=4, max_size=12),
       cutoff=st.floats(0.5, 5.0), vectors=st.booleans())
def test_threaded_batch_is_identical_to_one_thread(structures, cutoff, vectors):
    positions, cells, pbcs, counts = concatenated(structures)
    one = batched_neighbor_list(positions, cells, pbcs, counts, cutoff, vectors=vectors)
    two = batched_neighbor_list(positions, cells, pbcs, counts, cutoff, vectors=vectors,
                                n_threads=2)
    for ours, theirs in zip(one, two, strict=True):
        if ours is None:
            assert theirs is None
        else:
            np.testing.assert_array_equal(ours, theirs)


def test_threaded_batch_names_the_bad_structure_by_its_global_index():
    positions = np.zeros((12, 3))
    positions[10, 0] = np.inf
    cells = np.stack([5.0 * np.eye(3)] * 6)
    with pytest.raises(ValueError, match=r"atom 0 in structure 5"):
        batched_neighbor_list(positions, cells, True, np.full(6, 2), 2.0, n_threads=2)


def test_reused_threaded_calculator_matches_fresh_calls_across_batches():
    from kernels import NeighborList
    rng = np.random.default_rng(4)
    calculator = NeighborList(4.0, n_threads=2)
    for n_structures in (9, 4, 13):
        counts = rng.integers(1, 12, n_structures)
        cells = np.stack([np.diag(rng.uniform(3, 8, 3)) for _ in range(n_structures)])
        positions = rng.uniform(0, 6, (counts.sum(), 3))
        reused = calculator.compute_batch(positions, cells, True, counts)
        fresh = batched_neighbor_list(positions, cells, True, counts, 4.0)
        np.testing.assert_array_equal(reused.pair_counts, fresh.pair_counts)
        np.testing.assert_array_equal(reused.i, fresh.i)
        np.testing.assert_array_equal(reused.S, fresh.S)
        np.testing.assert_array_equal(reused.d, fresh.d)
