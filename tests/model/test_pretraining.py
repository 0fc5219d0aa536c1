"""Pre-training (denoising, masked elements) and fine-tuning from it, on tiny real runs."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from model.nn import PaiNN
from model.nn.pretraining_heads import NoiseHead
from model.nn.readout import TargetSpec
from model.pretraining.config import PretrainConfig
from model.pretraining.objectives import class_weights, corrupt
from model.pretraining.trainer import pretrain
from model.training.config import ConfigError, TrainConfig, load_config
from model.training.finetune import load_pretrained_backbone, read_pretrained
from model.training.trainer import build_model, train
from tests.model.test_networks import batch_of, triclinic_crystal


def pretrain_config(data_file, output, **changes) -> PretrainConfig:
    values = dict(data=[str(data_file)], features=8, interactions=2, cutoff=4.0, batch_size=8,
                  epochs=2, learning_rate=3e-3, val_fraction=0.2, output=str(output),
                  cache_dir=str(output.parent / "cache"))
    values.update(changes)
    return PretrainConfig(**values).validate()


@pytest.fixture(scope="module")
def pretrained(data_file, tmp_path_factory):
    output = tmp_path_factory.mktemp("pretrain") / "run"
    return pretrain(pretrain_config(data_file, output), show_progress=False)


def random_rotation() -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=generator))[0]
    return rotation * torch.linalg.det(rotation)  # a proper rotation, det +1


def test_the_denoising_head_rotates_with_the_structure():
    torch.manual_seed(0)
    backbone, head = PaiNN(n_features=16, n_interactions=2, cutoff=4.0).double(), \
        NoiseHead(16).double()
    crystal = triclinic_crystal()
    rotation = random_rotation().numpy()
    turned = Structure(Lattice(crystal.lattice.matrix @ rotation.T), crystal.species,
                       crystal.frac_coords)

    def noise_of(structure):
        batch = batch_of(structure)
        s, v = backbone.features(batch.numbers, batch.edge_i, batch.edge_j, batch.edge_vectors())
        return head(s, v)

    before, after = noise_of(crystal), noise_of(turned)
    assert before.abs().max() > 1e-6  # not trivially zero
    torch.testing.assert_close(after, before @ torch.from_numpy(rotation).T, rtol=1e-9, atol=1e-9)


def test_painn_forward_is_still_the_scalar_features():
    torch.manual_seed(0)
    backbone = PaiNN(n_features=16, n_interactions=2, cutoff=4.0).double()
    batch = batch_of(triclinic_crystal())
    inputs = (batch.numbers, batch.edge_i, batch.edge_j, batch.edge_vectors())
    s, v = backbone.features(*inputs)
    assert torch.equal(backbone(*inputs), s) and v.shape == (5, 3, 16)


def test_corruption_moves_edges_by_the_noise_and_centres_it():
    batch = batch_of(triclinic_crystal(), triclinic_crystal() * (1, 1, 2))
    element_class = torch.zeros(101, dtype=torch.int64)
    corruption = corrupt(batch, element_class, 0.1, 0.3, torch.Generator().manual_seed(0))
    for graph in range(2):
        mean = corruption.noise[batch.graph_index == graph].mean(dim=0)
        torch.testing.assert_close(mean, torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    expected = (batch.edge_vectors() + corruption.noise[batch.edge_j]
                - corruption.noise[batch.edge_i])
    torch.testing.assert_close(corruption.batch.edge_vectors(), expected)
    assert corruption.masked.any()
    assert (corruption.batch.numbers[corruption.masked] == 0).all()
    assert torch.equal(corruption.batch.numbers[~corruption.masked],
                       batch.numbers[~corruption.masked])


def test_class_weights_follow_inverse_frequency_to_a_power():
    counts = np.array([600.0, 100.0, 300.0])  # e.g. O, Sr, Ti atoms
    weights = class_weights(counts, power=0.5)
    frequency = counts / 1000
    expected = frequency ** -0.5 / (frequency * frequency ** -0.5).sum()
    np.testing.assert_allclose(weights, expected)
    assert (frequency * weights).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(class_weights(counts, power=0.0), [1.0, 1.0, 1.0])


def test_a_rare_elements_loss_weighs_more_than_a_common_ones():
    weights = torch.tensor(class_weights(np.array([900.0, 100.0]), power=0.5),
                           dtype=torch.float64)
    # Two masked atoms, one common (class 0) and one rare (class 1), both equally wrong.
    logits = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1]), weight=weights)
    (gradient,) = torch.autograd.grad(loss, logits)
    common, rare = gradient.norm(dim=1)
    assert rare / common == pytest.approx(3.0)  # (0.9 / 0.1) ** 0.5


def test_a_pretrain_run_writes_its_backbone_curve_and_metrics(pretrained):
    with (pretrained.output / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["val_denoise"]) > 0 and float(r["val_mask"]) > 0 for r in rows)
    assert (pretrained.output / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = read_pretrained(pretrained.output)
    assert state["backbone_config"] == {"architecture": "painn", "features": 8,
                                        "interactions": 2, "cutoff": 4.0}
    assert state["elements"] == [8, 22, 38] and state["epoch"] == pretrained.best_epoch


def test_a_resumed_pretrain_run_repeats_the_straight_one(data_file, pretrained, tmp_path):
    output = tmp_path / "resumed"
    pretrain(pretrain_config(data_file, output, epochs=1), show_progress=False)
    pretrain(pretrain_config(data_file, output), resume=True, show_progress=False)
    assert (output / "metrics.csv").read_text() == \
        (pretrained.output / "metrics.csv").read_text()


def test_schnet_cannot_denoise_but_the_error_says_what_to_do():
    with pytest.raises(ConfigError, match="SchNet lacks: set architecture=painn or "
                                          "denoise_weight=0"):
        load_config(None, ["data=x.csv", "architecture=schnet"], PretrainConfig)
    load_config(None, ["data=x.csv", "architecture=schnet", "denoise_weight=0"], PretrainConfig)


def test_the_pretrain_command_reports_bad_keys_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kozo", "model", "pretrain", "--set",
                             "data=x.csv", "--set", "noise_sigma=-1"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "noise_sigma must be a positive length in Å; got -1.0" in result.stderr


def finetune_config(data_file, output, init, **changes) -> TrainConfig:
    values = dict(data=[str(data_file)], targets=["lattice_a"], features=8, interactions=2,
                  cutoff=4.0, batch_size=8, epochs=2, learning_rate=3e-3, output=str(output),
                  cache_dir=str(output.parent / "cache"), export=False, init=str(init))
    values.update(changes)
    return TrainConfig(**values).validate()


def test_fine_tuning_starts_from_the_pretrained_weights_exactly(data_file, pretrained, tmp_path):
    config = finetune_config(data_file, tmp_path / "run", pretrained.output / "backbone.pt")
    model = build_model(config, [TargetSpec("lattice_a")])
    load_pretrained_backbone(model.backbone, config)
    expected = torch.load(pretrained.backbone, weights_only=False)["backbone"]
    state = model.backbone.state_dict()
    assert set(state) == set(expected)
    assert all(torch.equal(state[k], expected[k]) for k in state)


def test_frozen_layers_keep_the_pretrained_weights_and_the_rest_learns(data_file, pretrained,
                                                                      tmp_path):
    run = train(finetune_config(data_file, tmp_path / "run", pretrained.output,
                                freeze_layers=2), show_progress=False)
    expected = torch.load(pretrained.backbone, weights_only=False)["backbone"]
    tuned = torch.load(run.output / "best.pt", weights_only=True)
    frozen = [k for k in expected if k.startswith(("embedding.", "messages.0.", "updates.0."))]
    free = [k for k in expected if k.startswith(("messages.1.", "updates.1."))]
    assert frozen and free
    assert all(torch.equal(tuned[f"backbone.{k}"], expected[k]) for k in frozen)
    assert any(not torch.equal(tuned[f"backbone.{k}"], expected[k]) for k in free)


@pytest.mark.parametrize("changes, message", [
    (dict(features=16), r"features 8 \(pre-trained\) vs 16"),
    (dict(interactions=1, cutoff=5.0), r"interactions 2 \(pre-trained\) vs 1; cutoff 4.0 "
                                       r"\(pre-trained\) vs 5.0"),
])
def test_a_backbone_of_other_sizes_is_refused_naming_them(data_file, pretrained, tmp_path,
                                                          changes, message):
    with pytest.raises(ConfigError, match=message):
        train(finetune_config(data_file, tmp_path / "run", pretrained.output, **changes),
              show_progress=False)


def test_init_from_something_that_is_not_a_pretrain_run_is_one_line(data_file, tmp_path):
    result = subprocess.run([sys.executable, "-m", "kozo", "model", "train", "--set",
                             f"data={data_file}", "--set", "targets=lattice_a", "--set",
                             f"output={tmp_path / 'run'}", "--set",
                             f"cache_dir={tmp_path / 'cache'}", "--init", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no pre-trained checkpoint (expected a `kozo model pretrain` run folder" \
        in result.stderr


def test_the_shipped_pretrain_config_fits_the_perovskite_model():
    from pathlib import Path

    from model.training.finetune import backbone_config

    configs = Path(__file__).resolve().parents[2] / "model" / "configs"
    backbone = load_config(configs / "pretrain-perovskite.toml", [], PretrainConfig)
    model = load_config(configs / "perovskite.toml", [])
    assert backbone_config(backbone) == backbone_config(model)
