"""The generator's building blocks against independent references: the wrapped-normal
score, the forward noising on the torus, the lattice representation, and the
denoiser's invariance to permutation, rotation and the choice of unit cell."""

import math

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation
from scipy.special import logsumexp

from model.generative.diffusion import CrystalDiffusion, Normalisation
from model.generative.lattice import lattice_to_vector, vector_to_lattice
from model.generative.schedules import coordinate_sigma
from model.generative.wrapped_normal import ScoreNorm, wrap, wrapped_normal_score

VOCABULARY = [8, 22, 38]  # O, Ti, Sr


def log_wrapped_normal(x: float, sigma: float, images: int = 30) -> float:
    """log Σ_k N(x + k; 0, σ²), summed directly over many images (the reference)."""
    k = np.arange(-images, images + 1)
    return float(logsumexp(-(x + k) ** 2 / (2 * sigma ** 2))) - 0.5 * math.log(2 * math.pi * sigma ** 2)


@pytest.mark.parametrize("sigma", [0.01, 0.1, 0.3, 0.5, 0.9])
def test_wrapped_normal_score_is_the_derivative_of_the_log_density(sigma):
    x = np.linspace(-0.95, 1.7, 23)
    h = 1e-5 * sigma
    numerical = [(log_wrapped_normal(v + h, sigma) - log_wrapped_normal(v - h, sigma)) / (2 * h)
                 for v in x]
    ours = wrapped_normal_score(torch.tensor(x, dtype=torch.float64)[:, None].expand(-1, 3),
                                torch.tensor(sigma, dtype=torch.float64))[:, 0]
    np.testing.assert_allclose(ours.numpy(), numerical, rtol=1e-5, atol=1e-5 / sigma)


def test_score_norm_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    norm = ScoreNorm(0.005, 0.5)
    for sigma in (0.02, 0.2, 0.45):
        x = torch.from_numpy(rng.normal(0, sigma, size=(60000, 3)))
        mc = float((wrapped_normal_score(x, torch.tensor(sigma, dtype=torch.float64)) ** 2).mean())
        assert float(norm(torch.tensor([sigma]))[0]) == pytest.approx(mc, rel=0.05)


def test_forward_noising_stays_on_the_torus_and_matches_the_wrapped_displacement():
    rng = torch.Generator().manual_seed(0)
    f0 = torch.rand(1000, 3, generator=rng)
    sigma = coordinate_sigma(torch.rand(1000, 1, generator=rng), 0.005, 0.5)
    noise = torch.randn(1000, 3, generator=rng)
    ft = wrap(f0 + sigma * noise)
    assert float(ft.min()) >= 0.0 and float(ft.max()) < 1.0
    # the displacement on the torus equals the noise modulo whole cells
    remainder = (ft - f0 - sigma * noise).double()
    np.testing.assert_allclose(remainder.numpy(), np.round(remainder.numpy()), atol=1e-5)


def test_lattice_vector_is_rotation_invariant_and_round_trips_the_cell_parameters():
    cell = torch.tensor([[4.1, 0.0, 0.0], [0.7, 3.8, 0.0], [-0.4, 0.9, 5.2]], dtype=torch.float64)
    rotation = torch.from_numpy(Rotation.random(random_state=1).as_matrix())
    y = lattice_to_vector(cell[None])
    np.testing.assert_allclose(y.numpy(), lattice_to_vector((cell @ rotation.T)[None]).numpy(),
                               atol=1e-10)
    back = Lattice(vector_to_lattice(y)[0].numpy())
    original = Lattice(cell.numpy())
    np.testing.assert_allclose(back.abc, original.abc, rtol=1e-9)
    np.testing.assert_allclose(back.angles, original.angles, rtol=1e-9)


def test_every_lattice_vector_gives_a_valid_cell():
    y = torch.randn(100, 6, dtype=torch.float64) * 3
    assert bool((torch.linalg.det(vector_to_lattice(y)) > 0).all())


# ---- the denoiser ------------------------------------------------------------------------

def tiny_model(mode="de_novo", properties=("heat_all",)) -> CrystalDiffusion:
    torch.manual_seed(0)
    normalisation = Normalisation([1.4, 0, 0, 1.4, 0, 1.4], [0.1] * 6,
                                  [0.0] * len(properties), [1.0] * len(properties))
    return CrystalDiffusion(mode=mode, vocabulary=VOCABULARY, properties=list(properties),
                            normalisation=normalisation, features=16, layers=2, cutoff=4.5).double()


def noisy_perovskite() -> Structure:
    """A distorted, triclinic SrTiO3 with random displacements: no symmetry to hide behind."""
    lattice = Lattice.from_parameters(3.9, 4.0, 4.1, 88, 93, 91)
    crystal = Structure(lattice, ["Sr", "Ti", "O", "O", "O"],
                        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    crystal.perturb(0.4, min_distance=0.1)
    return crystal


def denoise(model, crystal: Structure, cell=None, t=0.4):
    """Denoiser outputs for one crystal: (Cartesian coordinate vectors [n, 3],
    fractional scores [n, 3], type noise [n, K], lattice noise [6])."""
    cell = torch.tensor(crystal.lattice.matrix if cell is None else cell)[None]
    fractional = torch.tensor(np.mod(crystal.frac_coords, 1.0))
    types = torch.nn.functional.one_hot(
        torch.tensor([VOCABULARY.index(z) for z in crystal.atomic_numbers]), 3).double()
    gi = torch.zeros(len(crystal), dtype=torch.int64)
    tt = torch.tensor([t], dtype=torch.float64)
    properties = torch.tensor([[0.3]], dtype=torch.float64)
    present = torch.ones(1, 1, dtype=torch.float64)
    y = model.standardised_lattice(cell)
    out = model.denoiser(fractional, cell, types, gi, tt, properties, present, y)
    scores, lattice_noise, type_noise = model.predict_noise(fractional, y, types, gi, tt, properties,
                                                       present)
    return out.coordinate_vectors, scores, out.types, out.lattice[0]


def test_a_supercell_gets_the_same_per_atom_outputs_as_the_tiled_cell():
    model = tiny_model()
    crystal = noisy_perovskite()
    supercell = crystal.copy()
    supercell.make_supercell([[2, 1, 0], [0, 1, 0], [1, 0, 2]])  # 4 cells, sheared choice
    vectors, _, types, _ = denoise(model, crystal)
    super_vectors, _, super_types, _ = denoise(model, supercell)
    assert float(vectors.detach().abs().max()) > 1e-3  # the outputs are not trivially zero
    # each supercell site is an image of a primitive site: match by Cartesian position
    for k, site in enumerate(supercell):
        fractional_in_primitive = crystal.lattice.get_fractional_coords(site.coords)
        differences = np.mod(crystal.frac_coords - fractional_in_primitive + 0.5, 1.0) - 0.5
        source = int(np.argmin(np.abs(differences).sum(1)))
        assert np.abs(differences[source]).max() < 1e-6
        np.testing.assert_allclose(super_vectors[k].detach().numpy(),
                                   vectors[source].detach().numpy(), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(super_types[k].detach().numpy(),
                                   types[source].detach().numpy(), rtol=1e-6, atol=1e-9)


def test_rotating_the_cell_rotates_coordinate_vectors_and_leaves_the_rest_unchanged():
    model = tiny_model()
    crystal = noisy_perovskite()
    rotation = Rotation.random(random_state=3).as_matrix()
    vectors, scores, types, lattice = denoise(model, crystal)
    r_vectors, r_scores, r_types, r_lattice = denoise(
        model, crystal, cell=crystal.lattice.matrix @ rotation.T)
    np.testing.assert_allclose(r_vectors.detach().numpy(), vectors.detach().numpy() @ rotation.T,
                               atol=1e-9)
    for ours, rotated in ((scores, r_scores), (types, r_types), (lattice, r_lattice)):
        np.testing.assert_allclose(rotated.detach().numpy(), ours.detach().numpy(), atol=1e-9)


def test_permuting_atoms_permutes_the_outputs():
    model = tiny_model()
    crystal = noisy_perovskite()
    order = [3, 0, 4, 2, 1]
    permuted = Structure(crystal.lattice, [crystal[k].specie for k in order],
                         [crystal[k].frac_coords for k in order])
    vectors, scores, types, lattice = denoise(model, crystal)
    p_vectors, p_scores, p_types, p_lattice = denoise(model, permuted)
    np.testing.assert_allclose(p_vectors.detach().numpy(), vectors[order].detach().numpy(), atol=1e-9)
    np.testing.assert_allclose(p_types.detach().numpy(), types[order].detach().numpy(), atol=1e-9)
    np.testing.assert_allclose(p_lattice.detach().numpy(), lattice.detach().numpy(), atol=1e-9)
