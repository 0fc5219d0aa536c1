"""Runs that share a split: split_seed (ensembles), train_limit (learning curves), and the
ensemble artifact that `kozo model export RUN RUN ...` writes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from model.datasets import read_dataset
from model.infer import Predictor
from model.training.config import ConfigError, load_config
from model.training.preparation import prepare
from model.training.trainer import train
from tests.model.test_training import config_for


def splits_of(data_file, tmp_path, **changes):
    return prepare(config_for(data_file, tmp_path / "run", **changes)).splits


def test_split_seed_keeps_the_split_while_the_seed_changes(data_file, tmp_path):
    shipped = splits_of(data_file, tmp_path, seed=0)
    shared = splits_of(data_file, tmp_path, seed=1, split_seed=0)
    own = splits_of(data_file, tmp_path, seed=1)
    for name in ("train", "val", "test"):
        assert np.array_equal(shared[name], shipped[name])
    assert not np.array_equal(own["test"], shipped["test"])


def test_train_limit_draws_from_the_train_split_and_keeps_val_and_test(data_file, tmp_path):
    full = splits_of(data_file, tmp_path)
    limited = splits_of(data_file, tmp_path, train_limit=12)
    assert len(limited["train"]) == 12 and set(limited["train"]) < set(full["train"])
    assert np.array_equal(limited["val"], full["val"])
    assert np.array_equal(limited["test"], full["test"])
    # a drawn subset, not the first rows of the file
    assert not np.array_equal(limited["train"], full["train"][:12])
    assert np.array_equal(limited["train"], splits_of(data_file, tmp_path, train_limit=12)["train"])


def test_a_train_limit_beyond_the_train_split_is_refused(data_file, tmp_path):
    with pytest.raises(ConfigError, match="train_limit 500 exceeds the 48 structures"):
        splits_of(data_file, tmp_path, train_limit=500)
    with pytest.raises(ConfigError, match="split_seed takes -1"):
        load_config(None, ["data=x.csv", "targets=a", "split_seed=-2"])


@pytest.fixture(scope="module")
def two_runs(data_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ensemble")
    return [train(config_for(data_file, folder / f"seed{seed}", seed=seed, split_seed=0,
                             epochs=6), show_progress=False) for seed in (0, 1)]


def export(runs, out):
    return subprocess.run([sys.executable, "-m", "kozo", "model", "export",
                           *[str(r) for r in runs], "--out", str(out)],
                          capture_output=True, text=True)


def test_an_ensemble_artifact_predicts_the_mean_of_its_members(two_runs, data_file, tmp_path):
    result = export([r.output for r in two_runs], tmp_path / "ensemble")
    assert result.returncode == 0, result.stderr
    assert "the mean of 2 runs" in result.stdout
    structures = [s.structure for s in read_dataset(data_file).samples]
    members = [Predictor(r.artifact).predict_arrays(structures) for r in two_runs]
    assert not np.allclose(members[0], members[1], rtol=1e-3)  # two different models
    ensemble = Predictor(tmp_path / "ensemble").predict_arrays(structures)
    np.testing.assert_allclose(ensemble, (members[0] + members[1]) / 2, rtol=1e-5, atol=1e-6)

    metadata = json.loads((tmp_path / "ensemble" / "model.json").read_text())
    single = json.loads((two_runs[0].artifact / "model.json").read_text())
    assert metadata["architecture"]["ensemble_members"] == 2
    assert metadata["splits"] == single["splits"]
    dataset = read_dataset(data_file)
    test = [k for k, s in enumerate(dataset.samples) if s.id in set(metadata["splits"]["test"])]
    mae = np.abs(ensemble[test, 0] - dataset.target("lattice_a")[test]).mean()
    assert metadata["metrics"]["test"]["lattice_a_mae"] == pytest.approx(mae, rel=1e-4)


def test_runs_with_different_splits_cannot_form_an_ensemble(two_runs, data_file, tmp_path):
    other = train(config_for(data_file, tmp_path / "seed2", seed=2, epochs=1),
                  show_progress=False)
    result = export([two_runs[0].output, other.output], tmp_path / "out")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "differ in split_seed (members differ only in seed)" in result.stderr
    result = export([two_runs[0].output, two_runs[0].output], tmp_path / "out")
    assert result.returncode == 2 and "one is given twice" in result.stderr
