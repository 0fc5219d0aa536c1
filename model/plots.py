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


def _save(figure, png: Path, dpi: int = 100) -> None:
    """Write the figure and free it (pyplot keeps every open figure alive otherwise)."""
    figure.tight_layout()
    figure.savefig(png, dpi=dpi)
    _pyplot().close(figure)


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
    _save(figure, png, dpi=100)


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
    _save(figure, png, dpi=110)


def plot_objective_curves(metrics_csv: Path, png: Path, *, total: str,
                          objectives: dict[str, str]) -> None:
    """Training and validation loss (left) and each validation objective (right), per epoch.

    Self-supervised and generative training sum several objectives; one curve of the sum
    hides which of them is still learning. `objectives` maps metrics.csv columns to labels.
    """
    plt = _pyplot()
    with metrics_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    epochs = [int(r["epoch"]) for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key in ("train_loss", "val_loss"):
        left.plot(epochs, [float(r[key]) for r in rows], label=key.replace("_", " "))
    left.set(xlabel="epoch", ylabel=total, yscale="log")
    left.legend()
    for key, label in objectives.items():
        values = [float(r[key]) for r in rows]
        if any(v > 0 for v in values):
            right.plot(epochs, values, label=label)
    right.set(xlabel="epoch", ylabel="validation objective", yscale="log")
    right.legend()
    _save(figure, png, dpi=100)


def plot_pretraining_curve(metrics_csv: Path, png: Path) -> None:
    plot_objective_curves(metrics_csv, png, total="weighted sum of objectives",
                          objectives={"val_denoise": "denoising MSE (noise / σ)",
                                      "val_mask": "masked-element cross-entropy"})


TAIL_COLOURS = {"test": "tab:blue", "test_low": "tab:red", "test_high": "tab:orange"}


def _panels(count: int):
    plt = _pyplot()
    columns = min(count, 2)
    rows = (count + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 4.2 * rows), squeeze=False)
    for extra in axes.flat[count:]:
        extra.set_visible(False)
    return plt, figure, axes.flat


def plot_parity_tails(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], png: Path, *,
                      label: str, unit: str) -> None:
    """One parity plot per variant: centre test in blue, the low and high tails in red and
    orange, so that a model that flattens its extremes shows it at a glance.
    panels: title → split → (predicted, actual)."""
    plt, figure, axes = _panels(max(1, len(panels)))
    unit_text = f" ({unit})" if unit else ""
    for axis, (title, splits) in zip(axes, panels.items()):
        everything = np.concatenate([np.concatenate(pair) for pair in splits.values()]) \
            if splits else np.zeros(1)
        low, high = float(np.nanmin(everything)), float(np.nanmax(everything))
        axis.plot([low, high], [low, high], color="black", linewidth=0.8)
        for split, (predicted, actual) in splits.items():
            axis.scatter(actual, predicted, s=8, alpha=0.6, linewidths=0,
                         color=TAIL_COLOURS.get(split, "grey"), label=split)
        axis.set(xlabel=f"reference {label}{unit_text}", ylabel=f"predicted {label}{unit_text}",
                 title=title)
        axis.legend(loc="lower right", fontsize="small")
    _save(figure, png, dpi=100)


def plot_errors_against_target(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                               png: Path, *, label: str, unit: str,
                               bounds: tuple[float, float]) -> None:
    """Signed error (predicted − reference) against the reference value, one panel per
    variant, with the tail bounds as dashed lines: errors growing toward the edges mean the
    model does not extrapolate."""
    plt, figure, axes = _panels(max(1, len(panels)))
    unit_text = f" ({unit})" if unit else ""
    for axis, (title, splits) in zip(axes, panels.items()):
        for split, (predicted, actual) in splits.items():
            axis.scatter(actual, predicted - actual, s=8, alpha=0.6, linewidths=0,
                         color=TAIL_COLOURS.get(split, "grey"), label=split)
        axis.axhline(0.0, color="black", linewidth=0.8)
        for bound in bounds:
            axis.axvline(bound, color="grey", linestyle="--", linewidth=0.8)
        axis.set(xlabel=f"reference {label}{unit_text}", ylabel=f"error{unit_text}", title=title)
        axis.legend(loc="best", fontsize="small")
    _save(figure, png, dpi=100)


def plot_generator_curve(metrics_csv: Path, png: Path) -> None:
    plot_objective_curves(metrics_csv, png, total="denoising loss (unit-variance targets)",
                          objectives={"val_coordinates": "coordinate score",
                                      "val_lattice": "lattice noise", "val_types": "type noise"})


def plot_property_histogram(generated: np.ndarray, reference: np.ndarray, png: Path, *,
                            label: str, unit: str, title: str = "") -> None:
    """Distribution of a property over generated crystals (predicted by the property model)
    against the reference crystals of the same compositions."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 3.5))
    values = np.concatenate([generated, reference]) if len(generated) + len(reference) else \
        np.zeros(1)
    bins = np.linspace(float(np.nanmin(values)), float(np.nanmax(values)) + 1e-9, 30)
    axes.hist(reference, bins=bins, alpha=0.5, label=f"reference (n = {len(reference)})")
    axes.hist(generated, bins=bins, alpha=0.5, label=f"generated (n = {len(generated)})")
    unit_text = f" ({unit})" if unit else ""
    axes.set(xlabel=f"{label}{unit_text}", ylabel="crystals", title=title)
    axes.legend()
    _save(figure, png, dpi=100)


def plot_data_scaling(sizes: np.ndarray, errors: np.ndarray, fit: tuple[float, float], png: Path,
                      *, label: str, goal: float | None = None) -> None:
    """Test MAE against training-set size on log-log axes, with the power law
    MAE = a·N^(−b) (`fit` = (a, b)) extended to where it would meet `goal`."""
    plt = _pyplot()
    a, b = fit
    figure, axes = plt.subplots(figsize=(5, 3.8))
    axes.plot(sizes, errors, "o", label="runs")
    end = sizes.max() * 2
    if goal is not None and b > 0:
        end = max(end, 1.2 * (a / goal) ** (1 / b))
        axes.axhline(goal, color="grey", linestyle="--", label=f"goal {goal:g}")
    grid = np.geomspace(sizes.min(), end, 100)
    axes.plot(grid, a * grid ** -b, label=f"fit: MAE ∝ N^−{b:.2f}")
    axes.set(xscale="log", yscale="log", xlabel="training structures N", ylabel=label)
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ticks = [t for t in (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000,
                         200_000, 500_000) if sizes.min() / 1.2 <= t <= end]
    axes.set_xticks(ticks, [f"{t:,}" for t in ticks])
    axes.xaxis.set_minor_formatter(NullFormatter())
    plain = FuncFormatter(lambda value, _position: f"{value:.3g}")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)
    axes.legend()
    _save(figure, png)
