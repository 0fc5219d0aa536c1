"""Regression metrics over the samples that have a value."""

from __future__ import annotations

import numpy as np


def regression_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² and n over finite targets."""
    known = np.isfinite(actual)
    error = predicted[known] - actual[known]
    n = int(known.sum())
    if n == 0:
        return {"mae": float("nan"), "rmse": float("nan"), "r2": float("nan"), "n": 0}
    spread = ((actual[known] - actual[known].mean()) ** 2).sum()
    r2 = 1.0 - (error ** 2).sum() / spread if spread > 0 else float("nan")
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error ** 2).mean())),
            "r2": float(r2), "n": n}
