"""An exponential moving average of the weights, the model that is validated and exported.

Averaging the weights of the last few thousand steps smooths the noise of small
batches; property models for atoms and materials (NequIP, MACE) validate and ship
the average for that reason. torch's AveragedModel keeps it; this module adds what
the trainer needs around it: nothing when the decay is 0, and the plain weights
of a checkpoint's average for export.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

PREFIX = "module."  # AveragedModel's state_dict names the averaged model's tensors so


def weight_average(model: nn.Module, decay: float) -> AveragedModel | None:
    """An average updated by `update_parameters(model)` after each step; None for decay 0."""
    if decay == 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def averaged_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's own state_dict from an AveragedModel's (its step count left out)."""
    return {name.removeprefix(PREFIX): value for name, value in state.items()
            if name.startswith(PREFIX)}
