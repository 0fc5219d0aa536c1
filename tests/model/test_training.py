"""Training end to end on a small data set built here: outputs, learning, determinism, resume."""

import csv
import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from model.infer import Predictor
from model.datasets import read_dataset
from model.training.config import ConfigError, TrainConfig, load_config
from model.training.preparation import prepare
from model.nn import collate
from model.training.trainer import _error_sums, build_model, split_metrics, train
from model.training.weight_average import averaged_weights
from tests.model.conftest import FRACTIONAL, SITES, spend_minutes

def config_for(data_file, output, **changes) -> TrainConfig:
    values = dict(data=[str(data_file)], targets=["lattice_a", "volume_per_atom"],
                  features=16, interactions=1, cutoff=4.0, batch_size=8, epochs=4,
                  learning_rate=3e-3, output=str(output), cache_dir=str(output.parent / "cache"),
                  name="test-model")
    values.update(changes)
    return TrainConfig(**values).validate()


@pytest.fixture(scope="module")
def trained(data_file, tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "run"
    return train(config_for(data_file, output, epochs=12), show_progress=False)


def test_a_run_writes_metrics_plot_checkpoints_and_artifact(trained):
    output = trained.output
    with (output / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(1, trained.epochs_run + 1))
    assert (output / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (output / "best.pt").is_file() and (output / "last.pt").is_file()
    summary = json.loads((output / "metrics.json").read_text())
    assert summary["best_epoch"] == trained.best_epoch
    metadata = json.loads((trained.artifact / "model.json").read_text())
    ids = [set(metadata["splits"][s]) for s in ("train", "val", "test")]
    assert sum(map(len, ids)) == 60 and set.union(*ids) == {f"p{k}" for k in range(60)}
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert metadata["elements"] == [8, 22, 38] and metadata["cutoff"] == 4.0


def test_training_beats_predicting_the_mean(trained, data_file):
    dataset = read_dataset(data_file)
    metadata = json.loads((trained.artifact / "model.json").read_text())
    train_ids = set(metadata["splits"]["train"])
    lattice = dataset.target("lattice_a")
    train_mean = lattice[[s.id in train_ids for s in dataset.samples]].mean()
    test = [s.id in set(metadata["splits"]["test"]) for s in dataset.samples]
    baseline = np.abs(lattice[test] - train_mean).mean()
    assert trained.metrics["test"]["lattice_a"]["mae"] < 0.7 * baseline


def test_the_exported_artifact_reproduces_the_test_metrics(trained, data_file):
    dataset = read_dataset(data_file)
    test_ids = set(json.loads((trained.artifact / "model.json").read_text())["splits"]["test"])
    test = [s for s in dataset.samples if s.id in test_ids]
    predicted = Predictor(trained.artifact).predict([s.structure for s in test])
    mae = np.mean([abs(p["lattice_a"] - s.targets["lattice_a"]) for p, s in
                   zip(predicted, test, strict=True)])
    assert mae == pytest.approx(trained.metrics["test"]["lattice_a"]["mae"], rel=1e-4)


def test_the_same_seed_gives_the_same_run(data_file, tmp_path):
    first = train(config_for(data_file, tmp_path / "a"), show_progress=False)
    second = train(config_for(data_file, tmp_path / "b"), show_progress=False)
    assert (first.output / "metrics.csv").read_text() == (second.output / "metrics.csv").read_text()


def test_a_run_killed_mid_training_resumes_exactly(data_file, tmp_path):
    straight = train(config_for(data_file, tmp_path / "straight", epochs=8), show_progress=False)
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "kozo", "model", "train", "--set", f"data={data_file}",
               "--set", "targets=lattice_a,volume_per_atom", "--set", "features=16",
               "--set", "interactions=1", "--set", "cutoff=4.0", "--set", "batch_size=8",
               "--set", "epochs=8", "--set", "learning_rate=3e-3", "--set", f"output={killed}",
               "--set", f"cache_dir={tmp_path / 'cache'}", "--set", "name=test-model"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()  # SIGKILL: no clean-up, wherever it is
    process.wait()
    rows = (killed / "metrics.csv").read_text().splitlines()
    assert 2 <= len(rows) < 9, "the kill should land mid-run"
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert (killed / "metrics.csv").read_text() == (straight.output / "metrics.csv").read_text()


def test_a_time_limit_stops_after_the_epoch_that_crosses_it(data_file, tmp_path):
    stopped = train(config_for(data_file, tmp_path / "stopped", epochs=4, time_limit=1e-9),
                    show_progress=False)
    assert stopped.epochs_run == 1 and (stopped.artifact / "model.onnx").is_file()


@pytest.mark.parametrize("spent, epochs_run", [(7.5, 4), (20.0, 2)])
def test_a_resumed_run_goes_on_with_the_time_it_has_used(data_file, tmp_path, spent,
                                                         epochs_run):
    """Under a 10-minute limit: 7.5 minutes used, the cosine is at 3/4 and the epochs left
    run; 20 minutes used, one more epoch runs and the run stops."""
    train(config_for(data_file, tmp_path / "timed", epochs=1, time_limit=10.0),
          show_progress=False)
    spend_minutes(tmp_path / "timed", spent)
    resumed = train(config_for(data_file, tmp_path / "timed", epochs=4, time_limit=10.0),
                    resume=True, show_progress=False)
    assert resumed.epochs_run == epochs_run
    with (resumed.output / "metrics.csv").open() as handle:
        second = float(list(csv.DictReader(handle))[1]["learning_rate"])
    fraction = min(spent / 10.0, 1.0)
    expected = 3e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * fraction)))
    assert second == pytest.approx(expected, rel=1e-3)  # not 3e-3: no fresh budget


def test_a_finished_run_can_be_extended_with_more_epochs(data_file, tmp_path):
    constant = dict(schedule="constant")
    straight = train(config_for(data_file, tmp_path / "straight", epochs=4, **constant),
                     show_progress=False)
    train(config_for(data_file, tmp_path / "extended", epochs=2, **constant), show_progress=False)
    extended = train(config_for(data_file, tmp_path / "extended", epochs=4, **constant),
                     resume=True, show_progress=False)
    assert ((extended.output / "metrics.csv").read_text()
            == (straight.output / "metrics.csv").read_text())


def test_the_weight_average_is_what_is_validated_while_training_goes_as_without(
        data_file, tmp_path):
    plain = train(config_for(data_file, tmp_path / "plain", epochs=3), show_progress=False)
    config = config_for(data_file, tmp_path / "ema", epochs=3, ema_decay=0.9)
    averaged = train(config, show_progress=False)
    plain_last = torch.load(plain.output / "last.pt", weights_only=False)
    ema_last = torch.load(averaged.output / "last.pt", weights_only=False)
    for name, value in plain_last["model"].items():  # the average never steers the steps
        assert torch.equal(value, ema_last["model"][name]), name
    average = averaged_weights(ema_last["ema"])
    assert set(average) == set(ema_last["model"])
    assert any(not torch.equal(average[n], ema_last["model"][n]) for n in average)
    run = prepare(config)
    model = build_model(config, run.specs)
    model.load_state_dict(average)
    validated = split_metrics(model, run.graphs, run.splits["val"], config.batch_size)
    with (averaged.output / "metrics.csv").open() as handle:
        last_row = list(csv.DictReader(handle))[-1]
    assert float(last_row["val_mae_lattice_a"]) == pytest.approx(
        validated["lattice_a"]["mae"], rel=1e-9)


def test_an_averaged_run_extended_with_more_epochs_goes_on_with_its_average(data_file,
                                                                           tmp_path):
    changes = dict(ema_decay=0.9, weight_decay=0.01, schedule="constant")
    straight = train(config_for(data_file, tmp_path / "straight", **changes), show_progress=False)
    train(config_for(data_file, tmp_path / "extended", epochs=2, **changes), show_progress=False)
    extended = train(config_for(data_file, tmp_path / "extended", epochs=4, **changes),
                     resume=True, show_progress=False)
    assert ((extended.output / "metrics.csv").read_text()
            == (straight.output / "metrics.csv").read_text())


def test_target_losses_give_each_target_its_own_error(data_file, tmp_path):
    """lattice_a by absolute, volume_per_atom by squared error, each in units of its std."""
    config = config_for(data_file, tmp_path / "mixed", loss="l1",
                        target_losses=["volume_per_atom=mse"])
    run = prepare(config)
    model = build_model(config, run.specs)
    batch = collate(run.graphs, run.splits["train"][:8])
    sums, counts = (t.detach() for t in _error_sums(model, batch, config.losses))
    with torch.no_grad():
        predicted = model.predict(batch)
    errors = {s.name: (predicted[s.name] - batch.targets[s.name]).double() / s.std
              for s in run.specs}
    assert counts.tolist() == [8, 8]
    assert float(sums[0]) == pytest.approx(float(errors["lattice_a"].abs().sum()), rel=1e-5)
    assert float(sums[1]) == pytest.approx(float((errors["volume_per_atom"] ** 2).sum()),
                                           rel=1e-5)


def test_the_cosine_schedule_decays_to_one_percent_and_l1_loss_learns(data_file, tmp_path):
    run = train(config_for(data_file, tmp_path / "l1", epochs=6, loss="l1"), show_progress=False)
    with (run.output / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    rates = [float(r["learning_rate"]) for r in rows]
    assert rates[0] == pytest.approx(3e-3) and rates[-1] == pytest.approx(3e-5)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("overrides, message", [
    (["data=x.csv", "targets=a", "colour=red"], r"unknown configuration keys \['colour'\]"),
    (["data=x.csv", "targets=a", "epochs=many"], r"epochs must be of type int; got 'many'"),
    (["targets=a"], r"data is required"),
    (["data=x.csv", "targets=a", "train_fraction=0.95"], r"must leave a test split"),
    (["data=x.csv", "targets=a", "summed_targets=b"], r"summed_targets \['b'\] are not among"),
    (["data=x.csv", "targets=a", "architecture=mace"], r"architecture must be 'painn' or 'schnet'"),
    (["data=x.csv", "targets=a", "loss=huber"], r"loss must be 'mse', 'l1' or 'balanced_mse'; got 'huber'"),
    (["data=x.csv", "targets=a", "schedule=step"], r"schedule must be 'cosine' or 'constant'"),
    (["data=x.csv", "targets=a", "target_losses=b=mse"], r"target_losses takes target=mse .* got 'b=mse'"),
    (["data=x.csv", "targets=a", "target_losses=a=huber"], r"got 'a=huber'"),
    (["data=x.csv", "targets=a", "ema_decay=1"], r"ema_decay takes 0 ≤ decay < 1 .* got 1.0"),
    (["data=x.csv", "targets=a", "weight_decay=-0.1"], r"weight_decay ≥ 0; got 0.0, -0.1"),
])
def test_bad_configurations_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_cli_reports_a_missing_target_in_one_line(data_file, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kozo", "model", "train", "--set", f"data={data_file}",
         "--set", "targets=band_gap", "--set", f"output={tmp_path / 'run'}",
         "--set", f"cache_dir={tmp_path / 'cache'}"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "has no target ['band_gap']; it has lattice_a, volume_per_atom" in result.stderr
    assert "Traceback" not in result.stderr


def test_kozo_predict_prints_predictions_with_units(trained, tmp_path):
    cif = tmp_path / "SrTiO3.cif"
    CifWriter(Structure(Lattice.cubic(3.9), SITES, FRACTIONAL)).write_file(cif)
    result = subprocess.run([sys.executable, "-m", "kozo", "predict", "--model",
                             str(trained.artifact), str(cif), "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["formula"] == "O3SrTi" and set(line["predictions"]) == {"lattice_a",
                                                                          "volume_per_atom"}
    expected = Predictor(trained.artifact).predict([read_dataset_structure(cif)])[0]
    assert line["predictions"] == pytest.approx(expected)


def test_kozo_predict_refuses_elements_the_model_never_saw(trained, tmp_path):
    cif = tmp_path / "CsCl.cif"
    CifWriter(Structure(Lattice.cubic(4.1), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
              ).write_file(cif)
    result = subprocess.run([sys.executable, "-m", "kozo", "predict", "--model",
                             str(trained.artifact), str(cif)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "never saw Cl, Cs" in result.stderr and "Traceback" not in result.stderr


def test_export_from_a_checkpoint_reproduces_the_run_and_renames_it(trained, tmp_path):
    result = subprocess.run([sys.executable, "-m", "kozo", "model", "export", str(trained.output),
                             "--out", str(tmp_path / "exported"), "--name", "renamed",
                             "--version", "2.0.0"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    exported = json.loads((tmp_path / "exported" / "model.json").read_text())
    original = json.loads((trained.artifact / "model.json").read_text())
    assert (exported["name"], exported["version"]) == ("renamed", "2.0.0")
    assert exported["splits"] == original["splits"] and exported["targets"] == original["targets"]
    assert exported["metrics"]["test"] == pytest.approx(original["metrics"]["test"], rel=1e-6)


def test_export_of_a_folder_that_is_not_a_run_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kozo", "model", "export", str(tmp_path),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "not a training run folder (no config.json)" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_through_onnx_agrees_with_the_torch_model(trained, data_file, tmp_path):
    import torch

    from model.graph_cache import build_graphs
    from model.training.export_run import load_run_config
    from model.training.preparation import prepare
    from model.training.trainer import build_model, predict_indices

    config = load_run_config(trained.output)
    model = build_model(config, prepare(config).specs)
    model.load_state_dict(torch.load(trained.output / "best.pt", weights_only=True))
    graphs = build_graphs(read_dataset(data_file), config.cutoff)
    torch_mae = np.abs(predict_indices(model, graphs, np.arange(len(graphs)), 16)["lattice_a"]
                       - graphs.targets["lattice_a"]).mean()
    plot = tmp_path / "parity.png"
    result = subprocess.run([sys.executable, "-m", "kozo", "model", "evaluate", "--model",
                             str(trained.artifact), "--data", str(data_file), "--target",
                             "lattice_a", "--json", "--plot", str(plot)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert set(scores) == {"mae", "rmse", "r2", "n"} and scores["n"] == 60
    assert scores["mae"] == pytest.approx(torch_mae, rel=1e-4)
    assert scores["rmse"] >= scores["mae"] and scores["r2"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("arguments, message", [
    (["--target", "band_gap"], "does not predict 'band_gap'; it predicts lattice_a, volume_per_atom"),
    (["--target", "lattice_a", "--limit", "0"], "--limit must be at least 1"),
])
def test_evaluate_refuses_bad_requests_in_one_line(trained, data_file, arguments, message):
    result = subprocess.run([sys.executable, "-m", "kozo", "model", "evaluate", "--model",
                             str(trained.artifact), "--data", str(data_file), *arguments],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def read_dataset_structure(path):
    from model.structure_files import read_structure
    return read_structure(path)


def write_bad_input(kind, path):
    if kind == "not a structure":
        path.write_text("this is not a crystal\n")
    elif kind == "empty":
        path.write_text("0\nProperties=species:S:1:pos:R:3 pbc=\"F F F\"\n")
    elif kind == "overlapping":
        CifWriter(Structure(Lattice.cubic(3.9), ["Sr", "Ti"], [[0, 0, 0], [0.01, 0, 0]])
                  ).write_file(path)
    return path


@pytest.mark.parametrize("kind, suffix, message", [
    ("not a structure", ".cif", "not a readable structure file"),
    ("empty", ".xyz", "has no atoms"),
    ("overlapping", ".cif", "atoms on top of each other"),
])
def test_kozo_predict_refuses_bad_input_in_one_line(trained, tmp_path, kind, suffix, message):
    path = write_bad_input(kind, tmp_path / f"input{suffix}")
    result = subprocess.run([sys.executable, "-m", "kozo", "predict", "--model",
                             str(trained.artifact), str(path)], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_model_name_lists_the_shipped_ones(tmp_path):
    from model.pretrained import shipped_models

    cif = tmp_path / "SrTiO3.cif"
    CifWriter(Structure(Lattice.cubic(3.9), SITES, FRACTIONAL)).write_file(cif)
    result = subprocess.run([sys.executable, "-m", "kozo", "predict", "--model", "nonesuch",
                             str(cif)], capture_output=True, text=True)
    assert result.returncode == 2
    names = ", ".join(shipped_models()) or "none shipped"
    assert f"nonesuch: no such artifact folder, nor a shipped model ({names})" in result.stderr
