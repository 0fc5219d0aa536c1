"""Graphs of a data set: the same edges as the single neighbour list, cached by data and cutoff."""

import numpy as np

from kernels import neighbor_list
from model.datasets import read_dataset
from model.graph_cache import build_graphs, cache_path, load_or_build_graphs
from tests.model.test_datasets import PROTOTYPES, write_cdvae_csv


def dataset_file(tmp_path, rows=PROTOTYPES):
    path = tmp_path / "val.csv"
    write_cdvae_csv(path, rows)
    return read_dataset(path)


def test_graph_edges_equal_the_neighbor_list_of_each_structure(tmp_path):
    dataset = dataset_file(tmp_path)
    graphs = build_graphs(dataset, 4.5)
    atom_starts = np.concatenate([[0], np.cumsum(graphs.atom_counts)])
    edge_starts = np.concatenate([[0], np.cumsum(graphs.edge_counts)])
    for s, sample in enumerate(dataset.samples):
        single = neighbor_list(sample.structure.positions, sample.structure.cell, True, 4.5)
        part = slice(edge_starts[s], edge_starts[s + 1])
        ours = set(zip((graphs.edge_i[part] - atom_starts[s]).tolist(),
                       (graphs.edge_j[part] - atom_starts[s]).tolist(),
                       map(tuple, graphs.cell_shifts[part].tolist()), strict=True))
        assert ours == set(zip(single.i.tolist(), single.j.tolist(),
                               map(tuple, single.S.tolist()), strict=True))
    np.testing.assert_array_equal(graphs.targets["heat_all"], [1.25, 2.5, 0.75])


def test_second_call_reads_the_cache_instead_of_rebuilding(tmp_path):
    dataset = dataset_file(tmp_path)
    cache = tmp_path / "cache"
    first = load_or_build_graphs(dataset, 4.0, cache)
    stored = cache_path(dataset, 4.0, cache)
    stamp = stored.stat().st_mtime_ns
    again = load_or_build_graphs(dataset, 4.0, cache)
    assert stored.stat().st_mtime_ns == stamp and len(list(cache.iterdir())) == 1
    for name in ("numbers", "positions", "edge_i", "edge_j", "cell_shifts", "edge_counts"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert again.ids == first.ids and again.cutoff == 4.0
    np.testing.assert_array_equal(again.targets["ind_gap"], first.targets["ind_gap"])


def test_a_new_cutoff_or_new_data_builds_a_new_cache_file(tmp_path):
    cache = tmp_path / "cache"
    dataset = dataset_file(tmp_path)
    load_or_build_graphs(dataset, 4.0, cache)
    wider = load_or_build_graphs(dataset, 5.0, cache)
    (tmp_path / "other").mkdir()
    changed = dataset_file(tmp_path / "other", PROTOTYPES[:2])
    load_or_build_graphs(changed, 4.0, cache)
    assert len(list(cache.glob("*.npz"))) == 3
    assert wider.edge_i.size > load_or_build_graphs(dataset, 4.0, cache).edge_i.size
