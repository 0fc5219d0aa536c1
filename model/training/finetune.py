"""Fine-tuning from a pre-trained backbone: load its weights, optionally freeze the first layers.

A `kozo model pretrain` run writes backbone.pt (best validation epoch) and last.pt;
both hold the backbone's state dict and the sizes it was built with. The property
model's backbone must have the same architecture, sizes and cutoff: the weights of
a radial filter mean nothing at another cutoff.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from model.training.config import ConfigError, TrainConfig

BACKBONE_FILE = "backbone.pt"  # in a pretrain run folder: the best validation epoch
BACKBONE_KEYS = ("architecture", "features", "interactions", "cutoff")


def backbone_config(config) -> dict:
    """The sizes a backbone was built with, as recorded in pre-training checkpoints."""
    return {key: getattr(config, key) for key in BACKBONE_KEYS}


def read_pretrained(init: str | Path) -> dict:
    """{"backbone": state dict, "backbone_config": sizes} from a run folder or checkpoint."""
    path = Path(init)
    if path.is_dir():
        path = path / BACKBONE_FILE
    if not path.is_file():
        raise ConfigError(f"init {init}: no pre-trained checkpoint (expected a "
                          f"`kozo model pretrain` run folder with {BACKBONE_FILE}, or a .pt file)")
    state = torch.load(path, weights_only=False, map_location="cpu")
    if not isinstance(state, dict) or "backbone" not in state or "backbone_config" not in state:
        raise ConfigError(f"init {path}: not a pre-training checkpoint (no backbone and "
                          f"backbone_config); a training run's best.pt is not one")
    return state


def load_pretrained_backbone(backbone: nn.Module, config: TrainConfig) -> None:
    """Copy the pre-trained weights of `config.init` into `backbone`; sizes must match."""
    state = read_pretrained(config.init)
    ours, theirs = backbone_config(config), state["backbone_config"]
    different = [f"{key} {theirs.get(key)!r} (pre-trained) vs {ours[key]!r}"
                 for key in BACKBONE_KEYS if theirs.get(key) != ours[key]]
    if different:
        raise ConfigError(f"init {config.init}: the backbone does not match: "
                          f"{'; '.join(different)}")
    backbone.load_state_dict(state["backbone"])


def backbone_layers(backbone: nn.Module) -> list[list[nn.Module]]:
    """The backbone's layers from the input: the embedding, then each interaction
    (PaiNN: message and update; SchNet: one interaction block)."""
    if hasattr(backbone, "messages"):
        return [[backbone.embedding]] + [[m, u] for m, u in
                                         zip(backbone.messages, backbone.updates, strict=True)]
    return [[backbone.embedding]] + [[block] for block in backbone.interactions]


def freeze_layers(backbone: nn.Module, n_layers: int) -> None:
    """Stop gradients into the first `n_layers` layers (1: the embedding; 1 + k: the embedding
    and the first k interactions), so fine-tuning keeps what pre-training learned there."""
    for layer in backbone_layers(backbone)[:n_layers]:
        for module in layer:
            for parameter in module.parameters():
                parameter.requires_grad_(False)
