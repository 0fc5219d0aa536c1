"""The experiment grid: backbone start × loss × split × seed, each one training run.

Backbone start: from scratch, and from a pre-trained backbone when one is given.
Loss: the configuration's plain loss, and an imbalance-aware one (LDS weights
or Balanced MSE). Split: extrapolation (train on the centre, test on the tails)
and the random reference. Runs land in reports/<name>/runs/; a run that already
finished (its metrics.json exists) is not repeated, so a stopped experiment
continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from model.training.config import ConfigError, TrainConfig
from model.training.trainer import train

IMBALANCE_LOSSES = ("lds", "balanced_mse")


@dataclass
class ExperimentPlan:
    name: str  # the report folder's name
    base: TrainConfig  # data, one target, model sizes, epochs...: shared by every run
    pretrained: str  # a `kozo model pretrain` run folder or checkpoint; "" for none
    imbalance: str  # "lds" or "balanced_mse"
    seeds: list[int]
    reports: Path  # parent of the report folder
    command: str  # the command line that reproduces the experiment

    @property
    def folder(self) -> Path:
        return self.reports / self.name

    def validate(self) -> "ExperimentPlan":
        if len(self.base.targets) != 1:
            raise ConfigError(f"an experiment studies one target; got {self.base.targets} "
                              f"(choose one with --target)")
        if self.imbalance not in IMBALANCE_LOSSES:
            raise ConfigError(f"imbalance must be 'lds' or 'balanced_mse'; got {self.imbalance!r}")
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ConfigError(f"name must be a plain folder name; got {self.name!r}")
        return self


@dataclass(frozen=True)
class Variant:
    start: str  # "scratch" or "pretrained"
    loss: str  # "plain" or the imbalance-aware loss
    split: str  # "extrapolation" or "random"
    seed: int

    @property
    def label(self) -> str:
        return f"{self.start}-{self.loss}-{self.split}-seed{self.seed}"


def variants(plan: ExperimentPlan) -> list[Variant]:
    starts = ["scratch"] + (["pretrained"] if plan.pretrained else [])
    return [Variant(start, loss, split, seed) for start in starts
            for loss in ("plain", plan.imbalance) for split in ("extrapolation", "random")
            for seed in plan.seeds]


def run_config(plan: ExperimentPlan, variant: Variant) -> TrainConfig:
    """The base configuration with this variant's start, loss, split, seed and folder."""
    changes = dict(split=variant.split, seed=variant.seed, export=False,
                   output=str(plan.folder / "runs" / variant.label),
                   init=plan.pretrained if variant.start == "pretrained" else "",
                   freeze_layers=plan.base.freeze_layers if variant.start == "pretrained" else 0,
                   split_sizes=[] if variant.split == "extrapolation" else plan.base.split_sizes)
    plain_loss = "mse" if plan.base.loss == "balanced_mse" else plan.base.loss
    if variant.loss == "plain":
        changes.update(loss=plain_loss, loss_weighting="none")
    elif variant.loss == "lds":
        changes.update(loss=plain_loss, loss_weighting="lds")
    else:
        changes.update(loss="balanced_mse", loss_weighting="none")
    return dataclasses.replace(plan.base, **changes).validate()


def run_grid(plan: ExperimentPlan, *, show_progress: bool = True) -> dict[Variant, dict]:
    """Train every variant not yet finished; each variant's metrics.json contents."""
    results = {}
    grid = variants(plan)
    for number, variant in enumerate(grid, start=1):
        config = run_config(plan, variant)
        summary = Path(config.output) / "metrics.json"
        if show_progress:
            done = " (finished before, kept)" if summary.is_file() else ""
            print(f"[{number}/{len(grid)}] {variant.start} backbone, {variant.loss} loss, "
                  f"{variant.split} split, seed {variant.seed}{done}", file=sys.stderr, flush=True)
        if not summary.is_file():
            train(config, resume=True, show_progress=show_progress)  # continues a killed run
        results[variant] = json.loads(summary.read_text())
    return results
