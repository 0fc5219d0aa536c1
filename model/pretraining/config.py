"""Pre-training configuration: a TOML file, then `--set key=value` overrides (as for training).

The backbone keys (architecture, features, interactions, cutoff) must equal those
of the property model that is later fine-tuned from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.training.config import ConfigError


@dataclass
class PretrainConfig:
    data: list[str] = field(default_factory=list)  # data set paths (combined) or qm9; labels unused
    architecture: str = "painn"  # "painn" or "schnet" (SchNet: masked elements only)
    features: int = 64
    interactions: int = 3
    cutoff: float = 5.0  # Å
    noise_sigma: float = 0.1  # Å, standard deviation of the Gaussian noise added to positions
    denoise_weight: float = 1.0  # weight of the coordinate-denoising loss (0: off)
    mask_fraction: float = 0.15  # fraction of atoms whose element is masked
    mask_weight: float = 1.0  # weight of the masked-element loss (0: off)
    mask_class_power: float = 0.5  # class weight ∝ element frequency ** -power (0: unweighted)
    batch_size: int = 32
    epochs: int = 50
    learning_rate: float = 5e-4
    schedule: str = "cosine"  # "cosine" (decays to 1% over the epochs) or "constant"
    val_fraction: float = 0.05  # structures held out to pick the best epoch
    threads: int = 1  # torch threads; one makes a seed reproduce a run exactly
    seed: int = 0
    limit: int = 0  # read only the first N structures (0: all)
    output: str = "runs/pretrain"
    cache_dir: str = ".kozo-cache"

    def validate(self) -> "PretrainConfig":
        if not self.data:
            raise ConfigError("data is required: one or more data set paths, or 'qm9'")
        if self.architecture not in ("painn", "schnet"):
            raise ConfigError(f"architecture must be 'painn' or 'schnet'; got {self.architecture!r}")
        if self.architecture == "schnet" and self.denoise_weight > 0:
            raise ConfigError("coordinate denoising predicts vectors from PaiNN's equivariant "
                              "features, which SchNet lacks: set architecture=painn or "
                              "denoise_weight=0")
        if self.denoise_weight < 0 or self.mask_weight < 0 or \
                self.denoise_weight + self.mask_weight == 0:
            raise ConfigError(f"denoise_weight and mask_weight must be ≥ 0, one of them > 0; "
                              f"got {self.denoise_weight}, {self.mask_weight}")
        if not self.noise_sigma > 0:
            raise ConfigError(f"noise_sigma must be a positive length in Å; got {self.noise_sigma}")
        if not 0 < self.mask_fraction <= 1:
            raise ConfigError(f"mask_fraction must be in (0, 1]; got {self.mask_fraction}")
        if self.mask_class_power < 0:
            raise ConfigError(f"mask_class_power must be ≥ 0; got {self.mask_class_power}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in (0, 1); got {self.val_fraction}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant'; got {self.schedule!r}")
        for name in ("features", "interactions", "batch_size", "epochs", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not self.cutoff > 0 or not self.learning_rate > 0:
            raise ConfigError("cutoff (Å) and learning_rate must be positive")
        return self
