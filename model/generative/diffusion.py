"""The joint diffusion over fractional coordinates, lattice and (de novo) element types.

Forward process at time t ∈ [0, 1], all three noised together:
  f_t = wrap(f_0 + σ(t) ε_f)                        (wrapped normal on the torus; DiffCSP)
  y_t = √ᾱ(t) y_0 + √(1−ᾱ(t)) ε_y                   (standardised lattice vector, lattice.py)
  a_t = √ᾱ(t) a_0 + √(1−ᾱ(t)) ε_a                   (one-hot types, de novo only)
The denoiser predicts the wrapped-normal score of f (normalised to unit
variance, DiffCSP eq. 10) and the Gaussian noises ε_y, ε_a. Sampling runs the
reverse VE SDE with a Langevin corrector for f and DDPM ancestral steps for y
and a; a property condition is steered by classifier-free guidance
(Ho & Salimans 2022): ε = (1 + w) ε_cond − w ε_uncond.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from model.generative.crystals import CrystalBatch
from model.generative.denoiser import PeriodicDenoiser
from model.generative.lattice import lattice_to_vector, vector_to_lattice
from model.generative.schedules import alpha_bar, coordinate_sigma
from model.generative.wrapped_normal import ScoreNorm, wrap, wrapped_normal_score

MODES = ("csp", "de_novo")


@dataclass
class Normalisation:
    lattice_mean: list[float]  # [6] of the lattice vector over training crystals
    lattice_std: list[float]  # [6], floored so that fixed entries (cubic cells) stay usable
    property_mean: list[float]  # [n_properties] raw units
    property_std: list[float]


@dataclass
class Sample:
    fractional: np.ndarray  # [n, 3] in [0, 1)
    cell: np.ndarray  # [3, 3] Å
    numbers: np.ndarray  # [n] atomic numbers


class CrystalDiffusion(nn.Module):
    def __init__(self, *, mode: str, vocabulary: list[int], properties: list[str],
                 normalisation: Normalisation, features: int = 64, layers: int = 3,
                 cutoff: float = 6.0, sigma_min: float = 0.005, sigma_max: float = 0.5) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        self.mode, self.vocabulary, self.properties = mode, list(vocabulary), list(properties)
        self.normalisation = normalisation
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        self.score_norm = ScoreNorm(sigma_min, sigma_max)
        self.denoiser = PeriodicDenoiser(len(vocabulary), len(properties), features, layers,
                                         cutoff=cutoff)
        self.register_buffer("lattice_mean", torch.tensor(normalisation.lattice_mean))
        self.register_buffer("lattice_std", torch.tensor(normalisation.lattice_std))

    # -- representation ------------------------------------------------------------------
    def standardised_lattice(self, cells: torch.Tensor) -> torch.Tensor:
        return (lattice_to_vector(cells) - self.lattice_mean) / self.lattice_std

    def cells_from(self, standardised: torch.Tensor) -> torch.Tensor:
        return vector_to_lattice(standardised * self.lattice_std + self.lattice_mean)

    def predict_noise(self, fractional: torch.Tensor, y: torch.Tensor, type_vectors: torch.Tensor,
                      graph_index: torch.Tensor, t: torch.Tensor, properties: torch.Tensor,
                      present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ε̂_f [n_atoms, 3], ε̂_y [n_graphs, 6], ε̂_a [n_atoms, n_types]) at the noisy state
        (fractional [n_atoms, 3], y [n_graphs, 6] standardised lattice, type_vectors). The
        denoiser's Cartesian vectors u become normalised fractional scores ε̂_f = u L⁻¹,
        invariant to rotation as the fractional coordinates are."""
        cells = self.cells_from(y)
        out = self.denoiser(fractional, cells, type_vectors, graph_index, t, properties,
                            present, y)
        inverse = torch.linalg.inv(cells)[graph_index]  # [n_atoms, 3, 3]
        fractional_scores = torch.einsum("nc,nck->nk", out.coordinate_vectors, inverse)
        return fractional_scores, out.lattice, out.types

    # -- training ------------------------------------------------------------------------
    def loss(self, batch: CrystalBatch, condition_dropout: float = 0.0,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-term mean squared errors (unit scale) of one noised batch."""
        t = torch.rand(batch.n_graphs, generator=generator) * (1 - 1e-3) + 1e-3  # [G]
        errors = self.denoising_errors(batch, t, condition_dropout, generator)
        return {name: error.mean() for name, error in errors.items()}

    def denoising_errors(self, batch: CrystalBatch, t: torch.Tensor,
                         condition_dropout: float = 0.0,
                         generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Squared errors of the predicted noises after noising the batch to times t [G],
        conditioned on its known properties (each crystal's dropped with probability
        condition_dropout): coordinates and types per atom [N], lattice per crystal [G].
        The training loss averages them; ranking.py sums them per crystal."""
        n_graphs, gi = batch.n_graphs, batch.graph_index
        sigma = coordinate_sigma(t, self.sigma_min, self.sigma_max)[gi][:, None]  # [N, 1]
        noise_f = torch.randn(batch.fractional.shape, generator=generator)
        fractional_t = wrap(batch.fractional + sigma * noise_f)
        target_f = wrapped_normal_score(fractional_t - batch.fractional, sigma) \
            / torch.sqrt(self.score_norm(sigma))  # [N, 3] unit variance
        # a common shift of a crystal's atoms is invisible to a translation-invariant denoiser
        counts = torch.bincount(gi, minlength=n_graphs).clamp_min(1)[:, None]
        target_f = target_f - (torch.zeros(n_graphs, 3).index_add(0, gi, target_f) / counts)[gi]

        a_bar = alpha_bar(t)[:, None]  # [G, 1]
        y0 = self.standardised_lattice(batch.cells)
        noise_y = torch.randn(y0.shape, generator=generator)
        y_t = a_bar.sqrt() * y0 + (1 - a_bar).sqrt() * noise_y

        a0 = nn.functional.one_hot(batch.types, len(self.vocabulary)).float()
        noise_a = torch.randn(a0.shape, generator=generator)
        a_t = a0 if self.mode == "csp" else a_bar[gi].sqrt() * a0 + (1 - a_bar[gi]).sqrt() * noise_a

        present = torch.isfinite(batch.properties).float()
        keep = (torch.rand(n_graphs, generator=generator) >= condition_dropout).float()
        present = present * keep[:, None]
        predicted_f, predicted_y, predicted_a = self.predict_noise(
            fractional_t, y_t, a_t, gi, t, batch.properties, present)
        return {"coordinates": ((predicted_f - target_f) ** 2).sum(-1),
                "lattice": ((predicted_y - noise_y) ** 2).mean(-1),
                "types": ((predicted_a - noise_a) ** 2).mean(-1) if self.mode == "de_novo"
                else torch.zeros(len(gi))}

    # -- sampling ------------------------------------------------------------------------
    def _guided(self, fractional, y, a, gi, t, properties, present, guidance):
        unconditional = self.predict_noise(fractional, y, a, gi, t, properties,
                                      torch.zeros_like(present))
        if not bool(present.any()):
            return unconditional
        conditional = self.predict_noise(fractional, y, a, gi, t, properties, present)
        return tuple((1 + guidance) * c - guidance * u
                     for c, u in zip(conditional, unconditional, strict=True))

    @torch.no_grad()
    def sample(self, counts: list[int], types: list[list[int]] | None = None,
               properties: np.ndarray | None = None, *, guidance: float = 1.0,
               steps: int = 200, corrector_steps: int = 1, step_lr: float = 1e-5,
               corrector_start: float = 1.0,
               seed: int = 0) -> list[Sample]:
        """Crystals with `counts` atoms each. types: per crystal, vocabulary indices of its
        atoms (required in CSP mode; in de novo mode they are imposed by replacement).
        properties [n, n_properties] raw units, NaN for no condition. The Langevin corrector
        runs at diffusion times t ≤ corrector_start only (1: throughout, as DiffCSP): early,
        large corrector moves trade matches for precision."""
        if self.mode == "csp" and types is None:
            raise ValueError("CSP mode needs the types of every atom")
        generator = torch.Generator().manual_seed(seed)
        n_graphs = len(counts)
        gi = torch.repeat_interleave(torch.arange(n_graphs), torch.as_tensor(counts))
        n_types = len(self.vocabulary)
        fixed = None if types is None else nn.functional.one_hot(
            torch.as_tensor(np.concatenate(types), dtype=torch.int64), n_types).float()
        if properties is None:
            properties = np.full((n_graphs, len(self.properties)), np.nan)
        mean = np.asarray(self.normalisation.property_mean)
        std = np.asarray(self.normalisation.property_std)
        standardised = torch.as_tensor((np.asarray(properties) - mean) / std, dtype=torch.float32)
        present = torch.isfinite(standardised).float()

        f = torch.rand(len(gi), 3, generator=generator)
        y = torch.randn(n_graphs, 6, generator=generator)
        a = torch.randn(len(gi), n_types, generator=generator)
        times = torch.linspace(1.0, 0.0, steps + 1)
        for k in range(steps):
            t, s = times[k], times[k + 1]
            tt = t.expand(n_graphs)
            sigma_t = coordinate_sigma(t, self.sigma_min, self.sigma_max)
            sigma_s = coordinate_sigma(s, self.sigma_min, self.sigma_max) if k < steps - 1 \
                else torch.tensor(0.0)
            a_bar_t, a_bar_s = alpha_bar(t), alpha_bar(s)
            if fixed is not None:
                a = fixed if self.mode == "csp" else \
                    a_bar_t.sqrt() * fixed + (1 - a_bar_t).sqrt() * torch.randn(
                        a.shape, generator=generator)
            root_norm = torch.sqrt(self.score_norm(sigma_t.reshape(1)))
            correct = k < steps - 1 and float(t) <= corrector_start
            for _ in range(corrector_steps if correct else 0):  # Langevin at σ_t
                score = self._guided(f, y, a, gi, tt, standardised, present, guidance)[0] \
                    * root_norm
                size = step_lr * (sigma_t / self.sigma_min) ** 2
                f = wrap(f + size * score + torch.sqrt(2 * size) * torch.randn(
                    f.shape, generator=generator))
            score, noise_y, noise_a = self._guided(f, y, a, gi, tt, standardised, present,
                                                   guidance)
            variance = sigma_t ** 2 - sigma_s ** 2
            f = f + variance * score * root_norm
            if k < steps - 1:
                f = f + torch.sqrt(variance) * torch.randn(f.shape, generator=generator)
            f = wrap(f)
            y = _ddpm_step(y, noise_y, a_bar_t, a_bar_s, generator, last=k == steps - 1)
            if self.mode == "de_novo":
                a = _ddpm_step(a, noise_a, a_bar_t, a_bar_s, generator, last=k == steps - 1)
        if fixed is not None:
            a = fixed
        cells = self.cells_from(y).double().numpy()
        chosen = np.asarray(self.vocabulary)[a.argmax(-1).numpy()]
        f_np = f.double().numpy()
        starts = np.cumsum(counts) - np.asarray(counts)
        return [Sample(fractional=f_np[b:b + c], cell=cells[g], numbers=chosen[b:b + c])
                for g, (b, c) in enumerate(zip(starts, counts, strict=True))]


def _ddpm_step(x_t, noise, a_bar_t, a_bar_s, generator, *, last: bool):
    """One ancestral step t → s of a variance-preserving diffusion, from predicted noise;
    the predicted clean value is clipped to ±5 standardised units for stability."""
    x0 = ((x_t - (1 - a_bar_t).sqrt() * noise) / a_bar_t.sqrt()).clamp(-5.0, 5.0)
    if last:
        return x0
    alpha_ts = a_bar_t / a_bar_s
    beta = 1 - alpha_ts
    mean = (a_bar_s.sqrt() * beta / (1 - a_bar_t)) * x0 \
        + (alpha_ts.sqrt() * (1 - a_bar_s) / (1 - a_bar_t)) * x_t
    variance = beta * (1 - a_bar_s) / (1 - a_bar_t)
    return mean + variance.sqrt() * torch.randn(x_t.shape, generator=generator)
