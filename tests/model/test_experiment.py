"""`kozo model experiment` on a tiny grid: the report's table, figures and reproducing command."""

import csv
import json
import shlex

import numpy as np
import pytest

from kozo.cli import build_parser, main
from model.pretraining.config import PretrainConfig
from model.pretraining.trainer import pretrain

TINY = ["features=8", "interactions=1", "cutoff=4.0", "batch_size=8", "epochs=1",
        "learning_rate=3e-3", "lds_bins=10", "shot_bins=5", "shot_thresholds=3,8"]


@pytest.fixture(scope="module")
def experiment(data_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("experiment")
    pretrained = pretrain(PretrainConfig(
        data=[str(data_file)], features=8, interactions=1, cutoff=4.0, batch_size=8, epochs=1,
        val_fraction=0.2, output=str(root / "pretrain"), cache_dir=str(root / "cache")
    ).validate(), show_progress=False)
    sets = [f"data={data_file}", "targets=lattice_a,volume_per_atom", *TINY,
            f"cache_dir={root / 'cache'}"]
    argv = ["model", "experiment", "--name", "tiny", "--target", "lattice_a", "--pretrained",
            str(pretrained.output), "--seeds", "0", "--reports", str(root / "reports")]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 0
    return root / "reports" / "tiny", argv


def report_table(report: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in report.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows]


def test_the_report_starts_with_the_command_that_reproduces_it(experiment):
    folder, argv = experiment
    report = (folder / "report.md").read_text()
    command = report.split("```")[1].strip()
    words = shlex.split(command)
    assert words[0] == "kozo"
    assert vars(build_parser().parse_args(words[1:])) == vars(build_parser().parse_args(argv))


def test_the_table_crosses_start_and_loss_with_every_column(experiment):
    folder, _argv = experiment
    rows = report_table((folder / "report.md").read_text())
    assert rows[0] == ["backbone", "loss", "MAE random test", "MAE centre test", "MAE low tail",
                       "ρ low tail", "MAE high tail", "ρ high tail", "MAE many-shot",
                       "MAE medium-shot", "MAE few-shot"]
    assert [row[:2] for row in rows[2:]] == [["scratch", "plain"], ["scratch", "lds"],
                                             ["pretrained", "plain"], ["pretrained", "lds"]]
    for row in rows[2:]:
        assert all(cell == "—" or np.isfinite(float(cell)) for cell in row[2:])
        assert float(row[4]) > 0 and float(row[6]) > 0  # the tails are scored


def test_a_tail_cell_is_the_mae_of_that_runs_tail_predictions(experiment):
    folder, _argv = experiment
    rows = report_table((folder / "report.md").read_text())
    run = folder / "runs" / "pretrained-lds-extrapolation-seed0"
    with (run / "predictions.csv").open() as handle:
        tail = [r for r in csv.DictReader(handle)
                if r["split"] == "test_high" and r["target"] == "lattice_a"]
    mae = np.mean([abs(float(r["predicted"]) - float(r["actual"])) for r in tail])
    assert float(rows[5][6]) == pytest.approx(mae, rel=1e-3)
    config = json.loads((run / "config.json").read_text())
    assert (config["loss_weighting"], config["split"], config["targets"]) == (
        "lds", "extrapolation", ["lattice_a"])
    assert config["init"].endswith("pretrain")


def test_the_figures_are_written_beside_the_report(experiment):
    folder, _argv = experiment
    for name in ("parity.png", "error_vs_target.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_running_it_again_keeps_the_finished_runs(experiment):
    folder, argv = experiment
    summaries = sorted((folder / "runs").glob("*/metrics.json"))
    assert len(summaries) == 8
    before = {p: p.stat().st_mtime_ns for p in summaries}
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in summaries} == before


def test_an_experiment_needs_one_target(data_file, tmp_path, capsys):
    code = main(["model", "experiment", "--name", "x", "--reports", str(tmp_path), "--set",
                 f"data={data_file}", "--set", "targets=lattice_a,volume_per_atom"])
    assert code == 2
    assert "an experiment studies one target; got ['lattice_a', 'volume_per_atom']" \
        in capsys.readouterr().err
