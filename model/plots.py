"""Figures a person would rather look at than read: learning curves and parity plots.

matplotlib with the Agg backend, imported inside each function, so that
importing this module costs nothing on machines that never plot.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_learning_curve(metrics_csv: Path, png: Path, units: dict[str, str] | None = None) -> None:
    """Training loss and the validation MAE of each target (with its unit) per epoch."""
    plt = _pyplot()
    with metrics_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    epochs = [int(r["epoch"]) for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [float(r["train_loss"]) for r in rows])
    left.set(xlabel="epoch", ylabel="training loss (normalised units)", yscale="log")
    for key in [k for k in rows[0] if k.startswith("val_mae_")]:
        target = key.removeprefix("val_mae_")
        unit = (units or {}).get(target, "")
        right.plot(epochs, [float(r[key]) for r in rows],
                   label=f"{target} ({unit})" if unit else target)
    right.set(xlabel="epoch", ylabel="validation MAE", yscale="log")
    right.legend()
    figure.tight_layout()
    figure.savefig(png, dpi=100)
    plt.close(figure)


def plot_parity(predicted: np.ndarray, actual: np.ndarray, png: Path, *, label: str,
                unit: str, title: str = "") -> None:
    """Predicted against reference values, with the y = x line and the MAE in the corner."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.scatter(actual, predicted, s=6, alpha=0.5, linewidths=0)
    low = float(min(actual.min(), predicted.min())) if len(actual) else 0.0
    high = float(max(actual.max(), predicted.max())) if len(actual) else 1.0
    axes.plot([low, high], [low, high], color="black", linewidth=0.8)
    mae = float(np.abs(predicted - actual).mean()) if len(actual) else float("nan")
    axes.text(0.04, 0.96, f"MAE {mae:.4g} {unit}\nn = {len(actual)}", transform=axes.transAxes,
              va="top")
    unit_text = f" ({unit})" if unit else ""
    axes.set(xlabel=f"reference {label}{unit_text}", ylabel=f"predicted {label}{unit_text}",
             title=title)
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    plt.close(figure)
