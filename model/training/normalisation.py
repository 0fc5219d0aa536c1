"""Target statistics from the training split only, so no test value leaks in.

Averaged (intensive) targets use their mean and standard deviation. Summed
(extensive) targets get per-element reference values by least squares on the
composition, and the spread of what remains per atom.
"""

from __future__ import annotations

import numpy as np

from model.graph_cache import GraphSet
from model.nn.readout import TargetSpec


def composition_matrix(graphs: GraphSet, indices: np.ndarray, elements: list[int]) -> np.ndarray:
    """[n_graphs, n_elements] counts of each element in each graph."""
    column = np.full(int(max(elements)) + 1, -1)
    column[elements] = np.arange(len(elements))
    rows = np.repeat(np.arange(len(indices)), graphs.atom_counts[indices])
    counts = np.zeros((len(indices), len(elements)))
    np.add.at(counts, (rows, column[graphs.numbers[graphs.atoms_of(indices)]]), 1)
    return counts


def target_specs(graphs: GraphSet, train: np.ndarray, targets: list[str], summed: list[str],
                 units: dict[str, str], elements: list[int]) -> list[TargetSpec]:
    specs = []
    for name in targets:
        values = graphs.targets[name][train]
        known = np.isfinite(values)
        if known.sum() < 2:
            raise ValueError(f"target {name!r} has fewer than 2 values in the training split")
        if name in summed:
            counts = composition_matrix(graphs, train[known], elements)
            references, *_ = np.linalg.lstsq(counts, values[known], rcond=None)
            residual_per_atom = (values[known] - counts @ references) / counts.sum(axis=1)
            specs.append(TargetSpec(name, units.get(name, ""), "sum", mean=0.0,
                                    std=float(max(residual_per_atom.std(), 1e-6)),
                                    atom_reference={z: float(r) for z, r in
                                                    zip(elements, references, strict=True)}))
        else:
            specs.append(TargetSpec(name, units.get(name, ""), "mean",
                                    mean=float(values[known].mean()),
                                    std=float(max(values[known].std(), 1e-6))))
    return specs
