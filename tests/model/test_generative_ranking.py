"""Best of k (model/generative/ranking.py): the generator's denoising loss prefers real
crystals to shaken ones, and --candidates keeps the likeliest draw of each crystal."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from kozo.cli import main
from model.generative.artifact import load_generator
from model.generative.diffusion import Sample
from model.generative.generate import sample_crystals
from model.generative.ranking import best_of, candidate_losses, denoising_losses

from tests.model.conftest import FRACTIONAL

pytestmark = pytest.mark.usefixtures("one_thread")


def perovskite(a_site: str, b_site: str, shake: float = 0.0, seed: int = 0) -> Sample:
    crystal = Structure(Lattice.cubic(3.9), [a_site, b_site, "O", "O", "O"], FRACTIONAL)
    shift = np.random.default_rng(seed).normal(0.0, shake, (5, 3))
    return Sample(fractional=np.mod(crystal.frac_coords + shift, 1.0),
                  cell=crystal.lattice.matrix, numbers=np.array(crystal.atomic_numbers))


def test_the_shipped_generator_finds_ideal_perovskites_likelier_than_shaken_ones():
    model, _ = load_generator("perovskite-csp")
    model.eval()
    pairs = [("Sr", "Ti"), ("Ca", "Ti"), ("Ba", "Zr"), ("K", "Nb")]
    crystals = [perovskite(a, b) for a, b in pairs] + \
        [perovskite(a, b, shake=0.06, seed=k) for k, (a, b) in enumerate(pairs)]
    losses = denoising_losses(model, crystals)
    ideal, shaken = losses[:4], losses[4:]
    assert np.all(ideal < shaken), losses
    assert np.array_equal(denoising_losses(model, crystals), losses)  # seeded: repeatable


def test_best_of_takes_the_lowest_loss_of_each_group():
    samples = [perovskite("Sr", "Ti", shake=0.01, seed=k) for k in range(6)]
    chosen = best_of(3, samples, np.array([0.5, 0.2, 0.9, 0.1, 0.3, 0.4]))
    assert chosen == [samples[1], samples[3]]


def test_the_draws_of_one_crystal_are_scored_under_the_same_noises():
    """Two crystals, each drawn twice identically: scored as candidates, the twins tie;
    scored as a plain list, each gets noises of its own and they differ."""
    model, _ = load_generator("perovskite-csp")
    twins = [perovskite("Sr", "Ti", 0.02, seed=1)] * 2 + [perovskite("Ba", "Zr", 0.02, seed=2)] * 2
    paired = candidate_losses(model, 2, twins)
    assert paired[0] == paired[1] and paired[2] == paired[3] and paired[0] != paired[2]
    plain = denoising_losses(model, twins)
    assert plain[0] != plain[1] and plain[2] != plain[3]


def test_candidates_keep_the_likeliest_of_each_crystals_draws():
    """Two crystals wanted, three candidates each: the result is, for each crystal, the
    draw among its own three that the generator scores lowest."""
    model, description = load_generator("perovskite-csp")
    settings = description | {"sampling_steps": 20, "corrector_steps": 0, "candidates": 1}
    compositions = [[38, 22, 8, 8, 8], [56, 40, 8, 8, 8]]
    chosen = sample_crystals(model, settings | {"candidates": 3}, 2,
                             compositions=compositions, seed=3)
    draws = sample_crystals(model, settings, 6, seed=3,
                            compositions=[c for c in compositions for _ in range(3)])
    losses = candidate_losses(model, 3, draws, seed=3)
    assert losses[0] > min(losses[:3]) and losses[3] > min(losses[3:])  # not the first draws
    for k, crystal in enumerate(chosen):
        group = range(3 * k, 3 * k + 3)
        best = min(group, key=lambda j: losses[j])
        assert np.array_equal(crystal.fractional, draws[best].fractional)
        assert sorted(crystal.numbers.tolist()) == sorted(compositions[k])


def test_generate_takes_candidates_and_refuses_fewer_than_one(tmp_path, capsys):
    out = tmp_path / "best"
    assert main(["model", "generate", "--composition", "SrTiO3", "-n", "2", "--candidates",
                 "2", "--steps", "10", "--property-model", "none", "--out", str(out)]) == 0
    assert len(list(out.glob("*.cif"))) == 2
    capsys.readouterr()
    code = main(["model", "generate", "--composition", "SrTiO3", "--candidates", "0",
                 "--out", str(tmp_path / "never")])
    error = capsys.readouterr().err
    assert code == 2 and "--candidates must be at least 1" in error
    assert len(error.strip().splitlines()) == 1 and not (tmp_path / "never").exists()
