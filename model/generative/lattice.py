"""A rotation-invariant, always-valid lattice representation: 6 numbers.

A lattice L (rows a, b, c in Å) has the Gram matrix G = L Lᵀ, unchanged by
rotations L → L Rᵀ. Its symmetric square root S = G^½ is a lattice with the
same a, b, c, α, β, γ; y = (log S)'s six upper-triangle entries live in ℝ⁶, so
Gaussian diffusion on y can never leave the set of valid lattices (every
symmetric matrix exponentiates to a positive-definite one). Off-diagonal
entries are scaled by √2 so that |y| = ‖log S‖_F.
"""

from __future__ import annotations

import math

import torch

_ROWS, _COLS = torch.triu_indices(3, 3)
_OFF_DIAGONAL = (_ROWS != _COLS).to(torch.float64)
_SCALE = 1.0 + (math.sqrt(2.0) - 1.0) * _OFF_DIAGONAL  # [6]


def lattice_to_vector(cells: torch.Tensor) -> torch.Tensor:
    """[n, 3, 3] Å (rows are lattice vectors) → [n, 6], invariant to rotating the cell."""
    gram = cells @ cells.transpose(-1, -2)  # [n, 3, 3] Å²
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    log_s = eigenvectors @ torch.diag_embed(0.5 * torch.log(eigenvalues)) \
        @ eigenvectors.transpose(-1, -2)  # log G^½
    return log_s[:, _ROWS, _COLS] * _SCALE.to(cells.dtype)


def vector_to_lattice(vectors: torch.Tensor) -> torch.Tensor:
    """[n, 6] → [n, 3, 3] Å: the symmetric (canonically oriented) lattice exp(Y)."""
    entries = vectors / _SCALE.to(vectors.dtype)
    log_s = torch.zeros(vectors.shape[0], 3, 3, dtype=vectors.dtype)
    log_s[:, _ROWS, _COLS] = entries
    log_s[:, _COLS, _ROWS] = entries
    eigenvalues, eigenvectors = torch.linalg.eigh(log_s)
    return eigenvectors @ torch.diag_embed(torch.exp(eigenvalues)) \
        @ eigenvectors.transpose(-1, -2)
