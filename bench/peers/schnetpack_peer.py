"""SchNet from schnetpack (the peer for QM9 accuracy at equal CPU budget).

schnetpack's own model classes (SchNet representation, Atomwise outputs,
NeuralNetworkPotential with PairwiseDistances) with the hyperparameters of its
QM9 recipe (128 features, 6 interactions, 20 Gaussians, cosine cutoff at 5 Å).
It is fed the same batches as kozo (same neighbour pairs, same normalised
targets, per-element references removed from U0 as schnetpack's AddOffsets
does) and trained with the same optimiser, schedule and batch size, so that
the comparison is between the networks.

schnetpack 2.0.4 (the newest that accepts torch 2.13) imports a type variable
that torch has since removed; `_allow_import` defines it before the import.
"""

from __future__ import annotations

import typing

import numpy as np
import torch

name = "schnetpack SchNet"


def _allow_import():
    import torch.utils.data.dataloader as loader
    if not hasattr(loader, "T_co"):
        loader.T_co = typing.TypeVar("T_co", covariant=True)
    import schnetpack
    return schnetpack


def version() -> str:
    from importlib.metadata import version as installed
    return installed("schnetpack")


def build(specs, cutoff: float = 5.0) -> torch.nn.Module:
    """One Atomwise output per target: summed for extensive targets, averaged otherwise."""
    spk = _allow_import()
    representation = spk.representation.SchNet(
        n_atom_basis=128, n_interactions=6,
        radial_basis=spk.nn.GaussianRBF(n_rbf=20, cutoff=cutoff),
        cutoff_fn=spk.nn.CosineCutoff(cutoff))
    outputs = [spk.atomistic.Atomwise(n_in=128, output_key=spec.name,
                                      aggregation_mode="sum" if spec.aggregation == "sum"
                                      else "avg") for spec in specs]
    return spk.model.NeuralNetworkPotential(
        representation=representation, input_modules=[spk.atomistic.PairwiseDistances()],
        output_modules=outputs, do_postprocessing=False)


def inputs(batch) -> dict[str, torch.Tensor]:
    """schnetpack's input dictionary from a kozo GraphBatch (same atoms, same pairs)."""
    spk = _allow_import()
    properties = spk.properties
    edge_graph = batch.graph_index[batch.edge_i]
    offsets = torch.einsum("ek,ekc->ec", batch.cell_shifts, batch.cells[edge_graph])
    return {properties.Z: batch.numbers, properties.R: batch.positions,
            properties.idx_m: batch.graph_index, properties.idx_i: batch.edge_i,
            properties.idx_j: batch.edge_j, properties.offsets: offsets,
            properties.n_atoms: torch.bincount(batch.graph_index, minlength=batch.n_graphs)}


def offsets(batch, specs) -> dict[str, torch.Tensor]:
    """What schnetpack's offsets remove from each target: per-element references from summed
    targets (as AddOffsets does), the training mean from averaged ones. [n_graphs] each."""
    out = {}
    for spec in specs:
        if spec.aggregation == "sum":
            reference = torch.zeros(batch.n_graphs, dtype=batch.positions.dtype)
            for z, energy in spec.atom_reference.items():
                reference.index_add_(0, batch.graph_index,
                                     (batch.numbers == z).to(reference.dtype) * energy)
            out[spec.name] = reference
        else:
            out[spec.name] = torch.full((batch.n_graphs,), spec.mean, dtype=batch.positions.dtype)
    return out


def normalised_targets(batch, specs) -> dict[str, torch.Tensor]:
    """Targets as schnetpack learns them: offsets removed, scaled by the same spreads."""
    removed = offsets(batch, specs)
    return {s.name: (batch.targets[s.name] - removed[s.name]) / s.std for s in specs}


def denormalise(predicted: dict[str, torch.Tensor], batch, specs) -> dict[str, np.ndarray]:
    removed = offsets(batch, specs)
    return {s.name: (predicted[s.name].detach() * s.std + removed[s.name]).double().numpy()
            for s in specs}
