"""bench/learning_curve.py reads run folders and fits MAE = a·N^(−b); on runs that follow
an exact power law it must recover the exponent and the size that meets a goal."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fake_run(folder: Path, n_train: int, mae: float) -> Path:
    folder.mkdir(parents=True)
    metrics = {"train": {"heat_all": {"n": n_train, "mae": mae / 4}},
               "val": {"heat_all": {"n": 40, "mae": mae}},
               "test": {"heat_all": {"n": 40, "mae": mae}}}
    (folder / "metrics.json").write_text(json.dumps({"metrics": metrics}))
    return folder


def run_script(*arguments):
    return subprocess.run([sys.executable, str(ROOT / "bench" / "learning_curve.py"),
                           *map(str, arguments)], capture_output=True, text=True)


def fake_artifact(folder: Path, n_train: int, mae: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({
        "splits": {"train": [f"s{k}" for k in range(n_train)], "val": ["v"], "test": ["t"]},
        "metrics": {"test": {"heat_all_mae": mae, "heat_all_n": 1}}}))
    return folder


def test_an_exact_power_law_is_recovered_with_the_size_for_the_goal(tmp_path):
    # MAE = 2·N^-0.5: 0.04 at N = 2,500, and the goal 0.02 at N = 10,000
    runs = [fake_run(tmp_path / f"r{n}", n, 2 * n ** -0.5) for n in (400, 1600)]
    runs.append(fake_artifact(tmp_path / "artifact", 2500, 0.04))
    plot = tmp_path / "curve.png"
    result = run_script(*runs, "--goal", "0.02", "--plot", plot)
    assert result.returncode == 0, result.stderr
    assert "exponent b = 0.500" in result.stdout
    assert "the fit meets it at N ≈ 10,000 training structures (4.0× the largest run)" \
        in result.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_that_cannot_be_fitted_are_refused_in_one_line(tmp_path):
    one_size = [fake_run(tmp_path / f"r{k}", 500, 0.1) for k in range(2)]
    result = run_script(*one_size)
    assert result.returncode == 1 and "at least two sizes" in result.stderr
    result = run_script(tmp_path / "missing")
    assert "is neither a finished run (no metrics.json) nor an artifact" in result.stderr
    assert "Traceback" not in result.stderr
