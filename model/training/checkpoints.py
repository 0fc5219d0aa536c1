"""Checkpoints shared by every training loop: atomic writes, random state, metric rows.

Property training, pre-training and generator training all resume a killed run
exactly; these are the pieces that make that true for each of them.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch


def save_atomically(value, path: Path) -> None:
    """torch.save through a temporary file, so that a kill never leaves a torn checkpoint."""
    partial = path.with_name(f".{path.name}.partial")
    torch.save(value, partial)
    os.replace(partial, path)


def keep_epochs_up_to(metrics_csv: Path, last_epoch: int) -> None:
    """Drop rows of epochs after the checkpoint: a run killed between writing an epoch's row
    and its checkpoint repeats that epoch on resume, and must not log it twice."""
    with metrics_csv.open(newline="") as handle:
        rows = list(csv.reader(handle))
    kept = [rows[0]] + [row for row in rows[1:]
                        if row and row[0].isdigit() and int(row[0]) <= last_epoch]
    with metrics_csv.open("w", newline="") as handle:
        csv.writer(handle).writerows(kept)


def rng_state(generator: np.random.Generator) -> dict:
    """torch's and numpy's random state, saved with a checkpoint so a resume draws the same."""
    return {"torch": torch.get_rng_state(), "numpy": generator.bit_generator.state}


def restore_rng_state(state: dict, generator: np.random.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.bit_generator.state = state["numpy"]
