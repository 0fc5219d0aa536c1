"""The wrapped normal distribution on the unit torus [0, 1)^3 and its score.

Noising fractional coordinates f with N(0, σ²) and wrapping into [0, 1) gives
the wrapped normal p(x) = Σ_k N(x + k; 0, σ²), summed over periodic images k.
Its score ∂ log p / ∂x is the denoising target (DiffCSP, Jiao et al. 2023, eq. 6).
"""

from __future__ import annotations

import math

import numpy as np
import torch

IMAGES = 4  # images k = -4..4: enough for σ ≤ 1 (terms beyond are below e^-8 relative)


def wrap(fractional: torch.Tensor) -> torch.Tensor:
    """Into [0, 1): the point on the torus."""
    return fractional - torch.floor(fractional)


def wrap_difference(difference: torch.Tensor) -> torch.Tensor:
    """Into [-0.5, 0.5): the shortest displacement on the torus."""
    return difference - torch.round(difference)


def wrapped_normal_score(x: torch.Tensor, sigma: torch.Tensor, images: int = IMAGES
                         ) -> torch.Tensor:
    """∂ log p(x) / ∂x of the wrapped normal centred at 0 with std `sigma` (fractional units).

    x [..., 3] displacement (any real values), sigma broadcastable to x; same shape as x.
    """
    x = wrap_difference(x)
    k = torch.arange(-images, images + 1, dtype=x.dtype, device=x.device)  # [K]
    shifted = x.unsqueeze(-1) + k  # [..., 3, K]
    s2 = (sigma * sigma).unsqueeze(-1)
    weights = torch.softmax(-shifted * shifted / (2 * s2), dim=-1)  # image posterior
    return -(weights * shifted).sum(-1) / s2.squeeze(-1)


class ScoreNorm:
    """λ(σ) = E_x[(∂ log p / ∂x)²] per dimension, from quadrature on a table of σ.

    Dividing the score target by √λ gives it unit variance at every noise level
    (DiffCSP's loss weighting), so small and large σ weigh alike in the loss.
    """

    def __init__(self, sigma_min: float, sigma_max: float, n_table: int = 200,
                 n_grid: int = 4000) -> None:
        self.log_sigmas = np.linspace(math.log(sigma_min), math.log(sigma_max), n_table)
        x = torch.linspace(-0.5, 0.5, n_grid + 1, dtype=torch.float64)[:-1]  # [X]
        sigmas = torch.from_numpy(np.exp(self.log_sigmas))[:, None]  # [T, 1]
        images = torch.arange(-IMAGES, IMAGES + 1, dtype=torch.float64)
        shifted = x[:, None] + images  # [X, K]
        density = torch.exp(-shifted ** 2 / (2 * sigmas[:, :, None] ** 2)).sum(-1)  # [T, X]
        density = density / density.sum(-1, keepdim=True)
        score = wrapped_normal_score(x.expand(len(sigmas), -1), sigmas)  # [T, X]
        self.values = (density * score ** 2).sum(-1).numpy()  # [T]

    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        """λ at each σ, same shape as sigma."""
        table = np.interp(np.log(sigma.detach().cpu().double().numpy()), self.log_sigmas,
                          self.values)
        return torch.as_tensor(table, dtype=sigma.dtype)
