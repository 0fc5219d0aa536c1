"""Extrapolation splits, shot groups, LDS weights and Balanced MSE, against hand-worked references."""

import json
import math

import numpy as np
import pytest
import torch

from model.training.config import ConfigError, TrainConfig, load_config
from model.training.imbalance import balanced_mse, lds_weights
from model.training.metrics import rank_correlation, shot_groups, shot_metrics
from model.training.splits import extrapolation_split
from model.training.trainer import train


def config_for(data_file, output, **changes) -> TrainConfig:
    values = dict(data=[str(data_file)], targets=["lattice_a"], features=8, interactions=1,
                  cutoff=4.0, batch_size=8, epochs=2, learning_rate=3e-3, output=str(output),
                  cache_dir=str(output.parent / "cache"), name="test-model", export=False)
    values.update(changes)
    return TrainConfig(**values).validate()


def test_the_tails_hold_exactly_the_values_outside_the_percentiles():
    values = np.random.default_rng(1).normal(size=203)
    values[[5, 17]] = np.nan
    splits = extrapolation_split(values, (10.0, 85.0), 0.8, 0.1, seed=3)
    low, high = np.nanpercentile(values, [10, 85])
    assert set(splits["test_low"]) == set(np.flatnonzero(values < low))
    assert set(splits["test_high"]) == set(np.flatnonzero(values > high))
    everything = np.concatenate(list(splits.values()))
    assert sorted(everything) == list(range(203))  # a partition: nothing lost, nothing twice
    centre = np.concatenate([splits["train"], splits["val"], splits["test"]])
    assert {5, 17} <= set(centre)
    finite = values[centre][np.isfinite(values[centre])]
    assert finite.min() >= low and finite.max() <= high


def test_an_extrapolation_split_is_fixed_by_its_seed():
    values = np.arange(100.0)
    first, again = (extrapolation_split(values, (10, 90), 0.8, 0.1, seed=0) for _ in range(2))
    other = extrapolation_split(values, (10, 90), 0.8, 0.1, seed=1)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["train"], other["train"])


def test_spearman_agrees_with_the_rank_formula_and_scipy():
    from scipy.stats import spearmanr

    actual = np.array([0.3, 1.2, -0.4, 2.2, 0.9, 5.0, np.nan])
    predicted = np.array([0.1, 1.0, 0.2, 1.9, 1.4, 3.0, 7.0])
    ranks_a = np.argsort(np.argsort(actual[:6]))
    ranks_p = np.argsort(np.argsort(predicted[:6]))
    formula = 1 - 6 * ((ranks_a - ranks_p) ** 2).sum() / (6 * (36 - 1))
    assert rank_correlation(predicted, actual) == pytest.approx(formula)
    assert rank_correlation(predicted, actual) == pytest.approx(
        spearmanr(predicted[:6], actual[:6]).statistic)


def test_shot_groups_count_training_labels_per_bin():
    # bins of width 1/3 over [0, 1]: 150 labels in the first, 30 in the second, 5 in the last
    train_values = np.concatenate([[0.0], np.full(149, 0.1), np.full(30, 0.5), np.full(4, 0.9),
                                   [1.0]])
    actual = np.array([0.0, 0.2, 0.4, 0.6, 0.95, 1.0, -0.5, 1.7, np.nan])
    groups = shot_groups(actual, train_values, 3, (20, 100))
    assert list(groups) == ["many", "many", "medium", "medium", "few", "few", "few", "few", ""]
    scores = shot_metrics(actual + np.arange(9), actual, train_values, 3, (20, 100))
    assert scores["many"] == {"mae": pytest.approx(0.5), "n": 2}
    assert scores["medium"] == {"mae": pytest.approx(2.5), "n": 2}
    assert scores["few"] == {"mae": pytest.approx(5.5), "n": 4}


def test_lds_weights_match_a_hand_computed_case():
    # 4 bins of width 1 over [0, 4]: histogram [2, 1, 1, 1]; kernel [e, 1, e], e = exp(-1/2)
    train_values = np.array([0.0, 0.5, 1.5, 2.5, 4.0])
    e = math.exp(-0.5)
    density = np.array([2 + e, 1 + 3 * e, 1 + 2 * e, 1 + e])
    raw = density ** -0.5
    train_raw = raw[[0, 0, 1, 2, 3]]
    expected = train_raw / train_raw.mean()
    weights = lds_weights(train_values, train_values, n_bins=4, kernel_size=3, sigma=1.0,
                          power=0.5)
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    assert weights.mean() == pytest.approx(1.0)
    outside = lds_weights(train_values, np.array([-3.0, 9.0, np.nan]), n_bins=4, kernel_size=3,
                          sigma=1.0, power=0.5)
    np.testing.assert_allclose(outside[:2], [expected[0], expected[-1]])
    assert np.isnan(outside[2])


def test_rare_labels_weigh_more_under_lds():
    train_values = np.concatenate([np.zeros(50), [10.0]])
    weights = lds_weights(train_values, train_values, n_bins=10, kernel_size=5, sigma=2.0,
                          power=0.5)
    assert weights[-1] > 3 * weights[0]


def test_balanced_mse_matches_its_formula_in_numpy():
    predicted = np.array([0.2, -1.0, 0.7, 1.9])
    actual = np.array([0.0, -0.8, 1.5, 1.2])
    variance = 0.3 ** 2
    logits = -(predicted[:, None] - actual[None, :]) ** 2 / (2 * variance)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.diag(log_softmax) * 2 * variance
    ours = balanced_mse(torch.tensor(predicted), torch.tensor(actual),
                        torch.tensor(variance, dtype=torch.float64))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10)


def test_an_extrapolation_run_records_its_tails_and_scores_them(data_file, tmp_path):
    run = train(config_for(data_file, tmp_path / "run", split="extrapolation",
                           tail_percentiles=[15.0, 80.0], export=True), show_progress=False)
    metadata = json.loads((run.artifact / "model.json").read_text())
    from model.datasets import read_dataset
    dataset = read_dataset(data_file)
    values = dataset.target("lattice_a")
    low, high = np.percentile(values, [15, 80])
    ids = np.array([s.id for s in dataset.samples])
    assert set(metadata["splits"]["test_low"]) == set(ids[values < low])
    assert set(metadata["splits"]["test_high"]) == set(ids[values > high])
    train_values = values[np.isin(ids, metadata["splits"]["train"])]
    assert train_values.min() >= low and train_values.max() <= high
    summary = json.loads((run.output / "metrics.json").read_text())
    for split in ("test", "test_low", "test_high"):
        assert set(summary["metrics"][split]["lattice_a"]) == {"mae", "rmse", "r2", "n",
                                                                "spearman"}
        groups = summary["shots"][split]["lattice_a"]
        assert sum(g["n"] for g in groups.values()) == len(metadata["splits"][split])
    # A tail value lies outside every training bin: all few-shot.
    assert summary["shots"]["test_high"]["lattice_a"]["few"]["n"] == len(
        metadata["splits"]["test_high"])
    lines = (run.output / "predictions.csv").read_text().splitlines()
    assert len(lines) == 1 + sum(len(metadata["splits"][s])
                                 for s in ("test", "test_low", "test_high"))


@pytest.mark.parametrize("loss_options", [
    dict(loss_weighting="lds", lds_bins=10),
    dict(loss="balanced_mse", bmc_learn_sigma=True, bmc_sigma_learning_rate=0.05),
])
def test_imbalance_aware_losses_train_and_resume(data_file, tmp_path, loss_options):
    run = train(config_for(data_file, tmp_path / "run", **loss_options), show_progress=False)
    assert math.isfinite(run.metrics["test"]["lattice_a"]["mae"])
    state = torch.load(run.output / "last.pt", weights_only=False)
    if loss_options.get("bmc_learn_sigma"):
        assert state["noise"]["sigma"].item() != pytest.approx(0.5, abs=1e-4)
    resumed = train(config_for(data_file, tmp_path / "run", epochs=3, **loss_options),
                    resume=True, show_progress=False)
    assert resumed.epochs_run == 3


@pytest.mark.parametrize("overrides, message", [
    (["split=tails"], r"split must be 'random' or 'extrapolation'; got 'tails'"),
    (["split=extrapolation", "split_sizes=10,5,5"], r"split_sizes applies to split=random"),
    (["tail_percentiles=90,10"], r"0 ≤ low < high ≤ 100; got \[90.0, 10.0\]"),
    (["loss_weighting=focal"], r"loss_weighting must be 'none' or 'lds'; got 'focal'"),
    (["loss_weighting=lds", "loss=balanced_mse"], r"use one or the other"),
    (["lds_kernel_size=4"], r"an odd lds_kernel_size"),
    (["bmc_learn_sigma=maybe"], r"bmc_learn_sigma must be of type bool; got 'maybe'"),
    (["split_target=volume"], r"split_target 'volume' is not among targets"),
    (["freeze_layers=1"], r"needs init"),
])
def test_bad_imbalance_options_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["data=x.csv", "targets=a"] + overrides)


def test_percentiles_that_leave_no_tail_are_refused_naming_the_split(data_file, tmp_path):
    with pytest.raises(ConfigError, match=r"empty split \(test_low, test_high\); use more data "
                                          r"or tail_percentiles further from 0 and 100"):
        train(config_for(data_file, tmp_path / "run", split="extrapolation",
                         tail_percentiles=[0.0, 100.0]), show_progress=False)


def test_a_target_with_one_empty_tail_keeps_the_other(data_file, tmp_path):
    """Like band gaps, mostly 0: nothing lies below the low percentile, so only the high
    tail is held out (and scored) instead of refusing the split."""
    run = train(config_for(data_file, tmp_path / "run", split="extrapolation",
                           tail_percentiles=[0.0, 80.0]), show_progress=False)
    summary = json.loads((run.output / "metrics.json").read_text())
    assert "test_low" not in summary["metrics"]
    assert summary["metrics"]["test_high"]["lattice_a"]["n"] > 0
