"""PaiNN and SchNet: the symmetries a property model must respect, on real graphs."""

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from model.datasets.records import Dataset, Sample, from_pymatgen
from model.graph_cache import build_graphs
from model.nn import PaiNN, PropertyHead, SchNet, collate
from model.nn.property_model import PropertyModel
from model.nn.readout import TargetSpec

CUTOFF = 4.0


def triclinic_crystal() -> Structure:
    lattice = Lattice.from_parameters(4.1, 4.6, 5.2, 78.0, 96.0, 104.0)
    return Structure(lattice, ["Sr", "Ti", "O", "O", "O"],
                     [[0.02, 0.01, 0.0], [0.5, 0.52, 0.49], [0.5, 0.5, 0.03],
                      [0.48, 0.0, 0.5], [0.0, 0.51, 0.5]])


def batch_of(*structures: Structure, dtype=torch.float64):
    samples = [Sample(id=str(k), structure=from_pymatgen(s, str(k)), targets={})
               for k, s in enumerate(structures)]
    dataset = Dataset(name="test", samples=samples, units={}, fingerprint="")
    graphs = build_graphs(dataset, CUTOFF)
    return collate(graphs, np.arange(len(structures)), dtype=dtype)


def make_model(backbone_class, aggregation="mean", atom_reference=None):
    torch.manual_seed(0)
    backbone = backbone_class(n_features=16, n_interactions=2, cutoff=CUTOFF)
    targets = [TargetSpec("gap", "eV", "mean", mean=1.5, std=0.7),
               TargetSpec("energy", "eV", "sum", mean=-3.0, std=0.4,
                          atom_reference=atom_reference or {})]
    if aggregation == "sum":
        targets = targets[1:]
    return PropertyModel(backbone, PropertyHead(16, targets)).double()


BACKBONES = [PaiNN, SchNet]


def rotated(crystal: Structure) -> Structure:
    generator = torch.Generator().manual_seed(3)
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=generator))[0]
    return Structure(Lattice(crystal.lattice.matrix @ rotation.numpy().T), crystal.species,
                     crystal.frac_coords)


def reordered(crystal: Structure) -> Structure:
    order = [3, 0, 4, 2, 1]
    return Structure(crystal.lattice, [crystal.species[k] for k in order],
                     crystal.frac_coords[order])


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("transform", [rotated, reordered])
def test_rotating_or_reordering_the_crystal_changes_nothing(backbone, transform):
    model = make_model(backbone)
    crystal = triclinic_crystal()
    before = model.predict(batch_of(crystal))
    after = model.predict(batch_of(transform(crystal)))
    for name in before:
        torch.testing.assert_close(after[name], before[name], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_a_supercell_is_the_same_crystal(backbone):
    model = make_model(backbone)
    crystal = triclinic_crystal()
    supercell = crystal * (2, 2, 1)
    primitive, tiled = model.predict(batch_of(crystal)), model.predict(batch_of(supercell))
    torch.testing.assert_close(tiled["gap"], primitive["gap"], rtol=1e-9, atol=1e-9)  # intensive
    torch.testing.assert_close(tiled["energy"], 4 * primitive["energy"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_graphs_in_one_batch_do_not_see_each_other(backbone):
    model = make_model(backbone)
    first, second = triclinic_crystal(), triclinic_crystal() * (1, 1, 2)
    together = model.predict(batch_of(first, second))
    alone = [model.predict(batch_of(s)) for s in (first, second)]
    for name in together:
        torch.testing.assert_close(together[name], torch.cat([a[name] for a in alone]),
                                   rtol=1e-9, atol=1e-9)


def test_atom_reference_energies_add_per_element():
    reference = {38: -1.5, 22: -7.0, 8: -4.25}
    plain = make_model(PaiNN, "sum").predict(batch_of(triclinic_crystal()))["energy"]
    shifted = make_model(PaiNN, "sum", reference).predict(batch_of(triclinic_crystal()))["energy"]
    expected = -1.5 - 7.0 + 3 * -4.25  # SrTiO3
    torch.testing.assert_close(shifted - plain, torch.tensor([expected], dtype=torch.float64), rtol=1e-12, atol=1e-9)


def test_forces_from_positions_are_finite_and_sum_to_zero():
    model = make_model(PaiNN, "sum")
    batch = batch_of(triclinic_crystal())
    batch.positions.requires_grad_(True)
    energy = model.predict(batch)["energy"].sum()
    (gradient,) = torch.autograd.grad(energy, batch.positions)
    assert torch.isfinite(gradient).all()
    torch.testing.assert_close(gradient.sum(dim=0), torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)


@pytest.mark.parametrize("spec, message", [
    (dict(aggregation="max"), r"aggregation must be 'mean' or 'sum'; got 'max'"),
    (dict(std=0.0), r"std of target 'x' must be positive; got 0.0"),
])
def test_bad_target_specs_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        TargetSpec("x", **spec)


def textbook_message(message, s, v, edge_i, edge_j, basis, envelope, directions):
    """PaiNN's message as the paper writes it (eq. 7-8): one filter, split in three."""
    n = message.n_features
    x = message.scalar_filter(s)[edge_j] * (message.radial_filter(basis) * envelope[:, None])
    ds, dv_v, dv_s = x[:, :n], x[:, n:2 * n], x[:, 2 * n:]
    dv = v[edge_j] * dv_v[:, None, :] + directions[:, :, None] * dv_s[:, None, :]
    return s.index_add(0, edge_i, ds), v.index_add(0, edge_i, dv)


@pytest.mark.parametrize("first_layer", [True, False])
def test_the_message_is_painns_equations(first_layer):
    """The sliced weights, the envelope as a basis column and the skipped zero v_j term
    (written for speed) give the paper's message."""
    from model.nn.painn import PaiNNMessage, radial_inputs
    torch.manual_seed(1)
    message = PaiNNMessage(n_features=8, n_basis=5).double()
    n_atoms, n_edges = 6, 20
    s = torch.randn(n_atoms, 8, dtype=torch.float64)
    v = torch.zeros(n_atoms, 3, 8, dtype=torch.float64) if first_layer \
        else torch.randn(n_atoms, 3, 8, dtype=torch.float64)
    edge_i, edge_j = torch.randint(0, n_atoms, (n_edges,)), torch.randint(0, n_atoms, (n_edges,))
    basis = torch.randn(n_edges, 5, dtype=torch.float64)
    envelope = torch.rand(n_edges, dtype=torch.float64)
    directions = torch.nn.functional.normalize(torch.randn(n_edges, 3, dtype=torch.float64), dim=1)
    fast = message(s, None if first_layer else v, edge_i, edge_j,
                   radial_inputs(basis, envelope), directions)
    plain = textbook_message(message, s, v, edge_i, edge_j, basis, envelope, directions)
    for got, expected in zip(fast, plain, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert fast[1].abs().sum() > 0  # the vector messages are not all zero
