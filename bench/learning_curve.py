"""How the test error falls with the amount of training data, and what a goal would need.

    python bench/learning_curve.py RUN [RUN ...] [--target heat_all] [--goal 0.030]
                                   [--plot FILE.png]

Each RUN is a `kozo model train` run folder, or an artifact folder (such as
model/pretrained/perovskite: its model.json records the splits and the test
metrics); runs that differ only in `train_limit` share the validation and test
splits (see `kozo model train --help`), so their test errors compare. The
script reads each run's metrics.json (or model.json), prints the test MAE against the number of training structures,
fits the power law MAE = a·N^(−b) by least squares on log-log axes and, given
a goal, extrapolates the training-set size at which the fit would meet it.
Learning curves of this kind are close to power laws over a decade or two
(Hestness et al. 2017); the extrapolation is a scale, not a promise.

It trains nothing and times nothing; for the perovskite model:

    kozo model train --config model/configs/perovskite.toml --set train_limit=1874 \\
        --set export=false --set output=runs/perov-lc-1874
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.plots import plot_data_scaling  # noqa: E402


def read_point(run: Path, target: str) -> tuple[int, float]:
    """(training structures, test MAE of `target`) of one run or artifact folder."""
    if (run / "model.json").is_file() and not (run / "metrics.json").is_file():
        metadata = json.loads((run / "model.json").read_text())
        test = metadata["metrics"].get("test", {})
        if f"{target}_mae" not in test:
            raise SystemExit(f"learning_curve: error: {run} has no test MAE for {target!r}")
        return len(metadata["splits"]["train"]), float(test[f"{target}_mae"])
    path = run / "metrics.json"
    if not path.is_file():
        raise SystemExit(f"learning_curve: error: {run} is neither a finished run (no "
                         f"metrics.json) nor an artifact (no model.json)")
    metrics = json.loads(path.read_text())["metrics"]
    if target not in metrics.get("test", {}):
        raise SystemExit(f"learning_curve: error: {run} has no test metrics for {target!r}; "
                         f"it has {', '.join(metrics.get('test', {})) or 'none'}")
    return int(metrics["train"][target]["n"]), float(metrics["test"][target]["mae"])


def power_law(sizes: np.ndarray, errors: np.ndarray) -> tuple[float, float]:
    """(a, b) of MAE = a·N^(−b), least squares on log MAE against log N."""
    slope, intercept = np.polyfit(np.log(sizes), np.log(errors), 1)
    return float(np.exp(intercept)), float(-slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", metavar="RUN")
    parser.add_argument("--target", default="heat_all")
    parser.add_argument("--goal", type=float, help="a test MAE to extrapolate to")
    parser.add_argument("--plot", type=Path, help="write the log-log plot here (PNG)")
    args = parser.parse_args()
    points = sorted(read_point(run, args.target) for run in args.runs)
    sizes = np.array([n for n, _ in points], dtype=float)
    errors = np.array([e for _, e in points])
    if len(set(sizes)) < 2:
        raise SystemExit("learning_curve: error: a fit needs runs of at least two sizes")
    a, b = power_law(sizes, errors)
    print(f"{'train N':>8} {'test MAE':>9} {'fit':>9}")
    for n, error in points:
        print(f"{n:>8} {error:>9.4f} {a * n ** -b:>9.4f}")
    print(f"exponent b = {b:.3f}: doubling the data multiplies the MAE by {2 ** -b:.3f}")
    if args.goal is not None:
        if b <= 0:
            print(f"goal {args.goal:g}: the error does not fall with more data in these runs")
        else:
            needed = (a / args.goal) ** (1 / b)
            print(f"goal {args.goal:g}: the fit meets it at N ≈ {needed:,.0f} training "
                  f"structures ({needed / sizes.max():.1f}× the largest run)")
    if args.plot:
        plot_data_scaling(sizes, errors, (a, b), args.plot, label=f"test MAE {args.target}",
                          goal=args.goal)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
