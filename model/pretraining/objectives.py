"""The two pre-training objectives on one corrupted batch: denoising and masked elements.

Both corruptions are applied to the same batch and the backbone runs once:
positions get Gaussian noise (σ Å), and a fraction of atoms get the mask token
(atomic number 0, an embedding row no element uses).

Denoising (Zaidi et al., "Pre-training via denoising for molecular property
prediction", ICLR 2023): edge vectors are recomputed from the noisy positions
with the clean structure's integer cell shifts, and the head predicts the noise
/ σ per atom. The noise is centred per structure, since a rigid translation of a
crystal cannot be seen. Pairs pushed past the cutoff fade through the cosine
envelope; pairs pulled inside it are not added (σ ≪ cutoff).

Masked elements (as in masked language models): cross-entropy over the element
vocabulary, each class weighted by frequency ** -power (scaled so that the
atom-weighted mean weight is 1), so that O in perovskites or H and C in
molecules do not decide the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from model.nn.batch import GraphBatch
from model.nn.pretraining_heads import ElementHead, NoiseHead

MASK_TOKEN = 0  # atomic number used for a masked atom


def class_weights(counts: np.ndarray, power: float) -> np.ndarray:
    """Weight of each element class from its atom count: frequency ** -power, with
    Σ frequency · weight = 1 (an unweighted loss keeps its scale). [n_classes]"""
    frequency = counts / counts.sum()
    raw = frequency ** -power
    return raw / (frequency * raw).sum()


@dataclass
class Corruption:
    batch: GraphBatch  # positions noisy, masked numbers set to MASK_TOKEN
    noise: torch.Tensor  # [n_atoms, 3] Å, centred per structure
    masked: torch.Tensor  # [n_atoms] bool
    classes: torch.Tensor  # [n_atoms] int64, element class of each atom


def corrupt(batch: GraphBatch, element_class: torch.Tensor, noise_sigma: float,
            mask_fraction: float, generator: torch.Generator | None = None) -> Corruption:
    """The corrupted batch and what was done to it; at least one atom is masked."""
    n_atoms = batch.numbers.shape[0]
    noise = noise_sigma * torch.randn(n_atoms, 3, generator=generator, dtype=batch.positions.dtype)
    counts = torch.bincount(batch.graph_index, minlength=batch.n_graphs).clamp_min(1)
    means = torch.zeros(batch.n_graphs, 3, dtype=noise.dtype).index_add(
        0, batch.graph_index, noise) / counts[:, None]  # [n_graphs, 3]
    noise = noise - means[batch.graph_index]
    masked = torch.rand(n_atoms, generator=generator) < mask_fraction
    if not masked.any():
        masked[torch.randint(n_atoms, (1,), generator=generator)] = True
    numbers = torch.where(masked, torch.full_like(batch.numbers, MASK_TOKEN), batch.numbers)
    corrupted = replace(batch, numbers=numbers, positions=batch.positions + noise)
    return Corruption(corrupted, noise, masked, element_class[batch.numbers])


class PretrainingModel(nn.Module):
    """Backbone plus the two heads; only the backbone is kept for fine-tuning."""

    def __init__(self, backbone: nn.Module, n_classes: int, denoise: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.noise_head = NoiseHead(backbone.n_features) if denoise else None
        self.element_head = ElementHead(backbone.n_features, n_classes)

    def forward(self, batch: GraphBatch) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(noise / σ predicted [n_atoms, 3] or None, element logits [n_atoms, n_classes])."""
        edges = (batch.numbers, batch.edge_i, batch.edge_j, batch.edge_vectors())
        if self.noise_head is None:
            return None, self.element_head(self.backbone(*edges))
        s, v = self.backbone.features(*edges)
        return self.noise_head(s, v), self.element_head(s)


@dataclass
class Losses:
    total: torch.Tensor
    denoise: float  # mean squared error of noise / σ per component
    mask: float  # weighted cross-entropy over masked atoms
    mask_accuracy: float  # fraction of masked atoms whose element is the top logit


def pretraining_losses(model: PretrainingModel, corruption: Corruption, weights: torch.Tensor,
                       noise_sigma: float, denoise_weight: float, mask_weight: float) -> Losses:
    """denoise_weight · MSE(noise / σ) + mask_weight · weighted CE(masked elements)."""
    predicted_noise, logits = model(corruption.batch)
    masked_logits = logits[corruption.masked]  # [n_masked, n_classes]
    masked_classes = corruption.classes[corruption.masked]  # [n_masked]
    mask_loss = nn.functional.cross_entropy(masked_logits, masked_classes, weight=weights)
    total = mask_weight * mask_loss
    denoise = torch.zeros(())
    if predicted_noise is not None:
        denoise = ((predicted_noise - corruption.noise / noise_sigma) ** 2).mean()
        total = total + denoise_weight * denoise
    accuracy = (masked_logits.argmax(dim=1) == masked_classes).to(torch.float64).mean()
    return Losses(total, float(denoise.detach()), float(mask_loss.detach()), float(accuracy))
