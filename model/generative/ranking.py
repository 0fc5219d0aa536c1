"""Best of k: rank generated crystals by the generator's own denoising loss.

Why: given a composition, a CSP generator proposes several arrangements (which
site A and B take, whether and how far the cell distorts), and one sample is
one draw among them. Its training loss, the error of the noises it predicts
after a crystal is noised, averaged over noise levels, estimates how likely the
generator finds that crystal (the diffusion ELBO up to the weighting of the
levels; Ho et al. 2020). Drawing k candidates for each crystal wanted and
keeping the one with the lowest loss trades k times the sampling for crystals
the generator is surer of. No other model and no reference is consulted.
"""

from __future__ import annotations

import numpy as np
import torch

from model.datasets.progress import progress
from model.generative.crystals import CrystalBatch, CrystalSet, collate_crystals
from model.generative.diffusion import CrystalDiffusion, Sample

LEVELS = 12  # diffusion times, evenly spaced in [0.02, 0.98]
DRAWS = 4  # noise draws at each time


@torch.no_grad()
def denoising_losses(model: CrystalDiffusion, samples: list[Sample],
                     properties: np.ndarray | None = None, *, seed: int = 0,
                     batch_size: int = 64) -> np.ndarray:
    """Per crystal [n]: the generator's denoising loss (coordinates, lattice and, de novo,
    types, summed as in training) averaged over LEVELS times and DRAWS noises; lower means
    likelier. properties [n, n_properties] raw units (NaN: none) are the conditions the
    crystals were sampled with. The same seed and list give the same losses; a crystal's
    noises depend on its place in the list (candidate_losses lines up a crystal's draws)."""
    losses = []
    for start in range(0, len(samples), batch_size):
        part = slice(start, start + batch_size)
        batch = _batch(model, samples[part], None if properties is None else properties[part])
        total = torch.zeros(batch.n_graphs)
        counts = torch.bincount(batch.graph_index, minlength=batch.n_graphs).float()
        generator = torch.Generator().manual_seed(seed)
        for t in np.linspace(0.02, 0.98, LEVELS):
            for _ in range(DRAWS):
                errors = model.denoising_errors(
                    batch, torch.full((batch.n_graphs,), float(t)), generator=generator)
                per_atom = errors["coordinates"] + errors["types"]
                total += torch.zeros(batch.n_graphs).index_add(
                    0, batch.graph_index, per_atom) / counts + errors["lattice"]
        losses.append(total / (LEVELS * DRAWS))
    return torch.cat(losses).numpy() if losses else np.zeros(0)


def candidate_losses(model: CrystalDiffusion, candidates: int, samples: list[Sample],
                     properties: np.ndarray | None = None, *, seed: int = 0) -> np.ndarray:
    """denoising_losses of samples in consecutive groups of `candidates` (the draws for one
    crystal: the same atoms and conditions), with every draw of a crystal scored under the
    same noises (common random numbers), so that a comparison within a group carries no
    noise of its own: the j-th draws of all crystals are scored together, in one layout."""
    losses = np.empty(len(samples))
    for j in progress(range(candidates), f"ranking {candidates} draws of each crystal",
                      unit="draw"):
        losses[j::candidates] = denoising_losses(
            model, samples[j::candidates],
            None if properties is None else properties[j::candidates], seed=seed)
    return losses


def best_of(candidates: int, samples: list[Sample], losses: np.ndarray) -> list[Sample]:
    """From samples in consecutive groups of `candidates`, the one of each group with the
    lowest loss."""
    return [samples[start + int(np.argmin(losses[start:start + candidates]))]
            for start in range(0, len(samples), candidates)]


def _batch(model: CrystalDiffusion, samples: list[Sample],
           properties: np.ndarray | None) -> CrystalBatch:
    if properties is None:
        properties = np.full((len(samples), len(model.properties)), np.nan)
    crystals = CrystalSet(
        ids=[str(k) for k in range(len(samples))],
        fractional=np.concatenate([s.fractional for s in samples]),
        cells=np.stack([s.cell for s in samples]),
        numbers=np.concatenate([s.numbers for s in samples]).astype(np.int64),
        atom_counts=np.array([len(s.numbers) for s in samples]),
        properties=np.asarray(properties, dtype=np.float64))
    return collate_crystals(crystals, np.arange(len(samples)), model.vocabulary,
                            np.asarray(model.normalisation.property_mean),
                            np.asarray(model.normalisation.property_std))
