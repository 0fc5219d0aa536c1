"""Generator training configuration: a TOML file, then `--set key=value` overrides
(loaded by model.training.config.load_config with kind=GeneratorConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field

from model.training.config import ConfigError

# How a generator samples: configuration keys, stored in generator.json, overridable on the
# command line; each with the condition it must meet and the words for when it does not.
SAMPLING_LIMITS = {
    "sampling_steps": (lambda value: value >= 1, "must be at least 1"),
    "corrector_steps": (lambda value: value >= 0, "must be zero or more"),
    "step_lr": (lambda value: value >= 0, "must be zero or positive"),
    "corrector_start": (lambda value: 0 <= value <= 1, "is a diffusion time in [0, 1]"),
    "candidates": (lambda value: value >= 1, "must be at least 1"),  # ranking.py: best of k
}


def sampler_argument(key: str) -> str:
    """The name of a sampling setting as CrystalDiffusion.sample's argument (candidates:
    sample_crystals's own) and as the command-line option: `steps` for sampling_steps,
    the key itself otherwise."""
    return "steps" if key == "sampling_steps" else key


def sampling_problem(key: str, value: float) -> str | None:
    """What is wrong with one sampling setting ("must be at least 1; got 0"), or None."""
    acceptable, requirement = SAMPLING_LIMITS[key]
    return None if acceptable(value) else f"{requirement}; got {value}"


@dataclass
class GeneratorConfig:
    data: list[str] = field(default_factory=list)  # CDVAE CSV paths (combined)
    mode: str = "csp"  # "csp": composition given, types fixed; "de_novo": types generated too
    properties: list[str] = field(default_factory=list)  # conditioning columns, e.g. heat_all,ind_gap
    condition_dropout: float = 0.2  # probability of training a crystal unconditionally (CFG)
    features: int = 64
    layers: int = 3  # message-passing layers of the denoiser
    cutoff: float = 6.0  # Å, neighbour-list radius on the noisy crystal
    sigma_min: float = 0.005  # fractional-coordinate noise at t = 0 (DiffCSP)
    sigma_max: float = 0.5  # at t = 1: practically uniform on the torus
    lattice_weight: float = 1.0  # loss weights of the lattice and type terms
    type_weight: float = 1.0
    niggli: bool = True  # Niggli-reduce every cell before training
    batch_size: int = 64
    epochs: int = 100
    learning_rate: float = 1e-3
    schedule: str = "cosine"  # "cosine" (to 1% over the epochs) or "constant"
    time_limit: float = 0.0  # minutes of training before stopping (0: none); the cosine then
    # follows the fraction of this time used, so the rate anneals however fast the machine is
    patience: int = 1000  # epochs without a better validation loss before stopping
    val_fraction: float = 0.05
    test_fraction: float = 0.0  # held out from training; evaluate-generator --split test
    threads: int = 1
    seed: int = 0
    limit: int = 0  # read only the first N structures (0: all)
    sampling_steps: int = 200  # default reverse-diffusion steps of `kozo model generate`
    corrector_steps: int = 1  # Langevin corrector steps per step (coordinates)
    step_lr: float = 1e-5  # Langevin step at σ_min; grows as (σ/σ_min)² (DiffCSP)
    corrector_start: float = 1.0  # the corrector runs at diffusion times t ≤ this only
    candidates: int = 1  # crystals drawn for each one kept: the likeliest (ranking.py)
    guidance: float = 1.0  # default classifier-free guidance strength w
    init: str = ""  # start from a generator's weights (its folder or a shipped name): train it further
    output: str = "runs/generator"
    name: str = "generator"
    version: str = "0.1.0"

    def validate(self) -> "GeneratorConfig":
        if not self.data:
            raise ConfigError("data is required: one or more CDVAE CSV paths")
        if self.mode not in ("csp", "de_novo"):
            raise ConfigError(f"mode must be 'csp' or 'de_novo'; got {self.mode!r}")
        for name in ("features", "layers", "batch_size", "epochs", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not 0 <= self.condition_dropout <= 1:
            raise ConfigError(f"condition_dropout is a probability; got {self.condition_dropout}")
        if not 0 < self.sigma_min < self.sigma_max <= 1.0:
            raise ConfigError(f"need 0 < sigma_min < sigma_max ≤ 1 (fractional units); got "
                              f"{self.sigma_min}, {self.sigma_max}")
        for key in SAMPLING_LIMITS:
            if problem := sampling_problem(key, getattr(self, key)):
                raise ConfigError(f"{key} {problem}")
        if not self.cutoff > 0 or not self.learning_rate > 0:
            raise ConfigError("cutoff (Å) and learning_rate must be positive")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must lie in (0, 1); got {self.val_fraction}")
        if not 0 <= self.test_fraction < 1 - self.val_fraction:
            raise ConfigError(f"test_fraction must lie in [0, 1 - val_fraction); got "
                              f"{self.test_fraction}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant'; got {self.schedule!r}")
        return self
