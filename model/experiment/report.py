"""The experiment's Markdown report: a table of mean ± std over seeds, and its figures.

Columns: MAE on the random split's test set (in distribution), MAE on the
extrapolation split's centre test set, MAE and Spearman's ρ on each tail, and
the MAE of each shot group (many/medium/few training labels per bin) on the
random split's test set, where rare values are rare but not out of range.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from model.datasets import read_dataset
from model.experiment.grid import ExperimentPlan, Variant
from model.plots import plot_errors_against_target, plot_parity_tails
from model.training.metrics import SHOT_GROUPS

COLUMNS = [  # (header, split kind, metrics split, metric); shots come from the random split
    ("MAE random test", "random", "test", "mae"),
    ("MAE centre test", "extrapolation", "test", "mae"),
    ("MAE low tail", "extrapolation", "test_low", "mae"),
    ("ρ low tail", "extrapolation", "test_low", "spearman"),
    ("MAE high tail", "extrapolation", "test_high", "mae"),
    ("ρ high tail", "extrapolation", "test_high", "spearman"),
] + [(f"MAE {group}-shot", "random", "shots", group) for group in SHOT_GROUPS]


def mean_and_spread(values: list[float]) -> str:
    """'mean ± std' over seeds (sample std), NaN-aware; '—' when no seed has a value."""
    finite = np.array([v for v in values if v is not None and np.isfinite(v)])
    if len(finite) == 0:
        return "—"
    if len(finite) == 1:
        return f"{finite[0]:.4g}"
    return f"{finite.mean():.4g} ± {finite.std(ddof=1):.2g}"


def cell_value(summary: dict, target: str, split: str, metric: str) -> float | None:
    if split == "shots":
        return summary["shots"]["test"][target][metric]["mae"]
    return summary["metrics"].get(split, {}).get(target, {}).get(metric)


def table(plan: ExperimentPlan, results: dict[Variant, dict]) -> list[list[str]]:
    """Rows of (backbone, loss, one cell per column), each cell over the seeds."""
    target = plan.base.targets[0]
    rows = []
    pairs = list(dict.fromkeys((v.start, v.loss) for v in results))
    for start, loss in pairs:
        cells = []
        for _header, kind, split, metric in COLUMNS:
            values = [cell_value(summary, target, split, metric)
                      for v, summary in results.items()
                      if (v.start, v.loss, v.split) == (start, loss, kind)]
            cells.append(mean_and_spread(values))
        rows.append([start, loss] + cells)
    return rows


def read_predictions(run: Path, target: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """split → (predicted, actual) from a run's predictions.csv."""
    parts: dict[str, tuple[list[float], list[float]]] = {}
    with (run / "predictions.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["target"] == target:
                predicted, actual = parts.setdefault(row["split"], ([], []))
                predicted.append(float(row["predicted"]))
                actual.append(float(row["actual"]))
    return {split: (np.array(p), np.array(a)) for split, (p, a) in parts.items()}


def write_report(plan: ExperimentPlan, results: dict[Variant, dict]) -> Path:
    """reports/<name>/report.md with its figures beside it; returns the report's path."""
    base, target = plan.base, plan.base.targets[0]
    dataset = read_dataset(base.data, limit=base.limit or None)
    unit = dataset.units.get(target, "")
    values = dataset.target(target)
    low, high = np.nanpercentile(values, base.tail_percentiles)
    first_seed = plan.seeds[0]
    panels = {}
    for variant in results:
        if variant.split == "extrapolation" and variant.seed == first_seed:
            run = plan.folder / "runs" / variant.label
            panels[f"{variant.start}, {variant.loss}"] = read_predictions(run, target)
    plot_parity_tails(panels, plan.folder / "parity.png", label=target, unit=unit)
    plot_errors_against_target(panels, plan.folder / "error_vs_target.png", label=target,
                               unit=unit, bounds=(float(low), float(high)))
    unit_text = f" ({unit})" if unit else ""
    headers = ["backbone", "loss"] + [h for h, *_ in COLUMNS]
    lines = [
        f"# Experiment {plan.name}: {target}{unit_text} on {', '.join(base.data)}", "",
        "Reproduce (from the same folder):", "", "```", plan.command, "```", "",
        f"{len(dataset)} structures. Extrapolation split: tails below the "
        f"{base.tail_percentiles[0]:g}th percentile ({low:.4g}) and above the "
        f"{base.tail_percentiles[1]:g}th ({high:.4g}) of {target} are held out as test_low and "
        f"test_high; the centre is split {base.train_fraction:g}/{base.val_fraction:g}/rest into "
        f"train/val/test. Random split: the usual reference. Seeds {plan.seeds}; "
        f"{base.architecture}, {base.features} features, {base.interactions} interactions, "
        f"{base.epochs} epochs, plain loss {base.loss if base.loss != 'balanced_mse' else 'mse'}, "
        f"imbalance-aware loss {plan.imbalance}"
        f"{f', pre-trained backbone {plan.pretrained}' if plan.pretrained else ''}.", "",
        f"MAE in {unit or 'target units'}, mean ± standard deviation over seeds; ρ is Spearman's "
        f"rank correlation within a tail. Shot groups (random split's test set): a value is "
        f"many-shot when its bin ({base.shot_bins} bins over the training range) holds more than "
        f"{base.shot_thresholds[1]:g} training labels, few-shot below "
        f"{base.shot_thresholds[0]:g}, medium otherwise.", "",
        "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in table(plan, results)]
    lines += ["", f"Figures (extrapolation split, seed {first_seed}): predicted against reference "
              f"with the tails highlighted, and the error against the reference value.", "",
              "![parity plots](parity.png)", "", "![error against target](error_vs_target.png)",
              ""]
    path = plan.folder / "report.md"
    path.write_text("\n".join(lines))
    return path
