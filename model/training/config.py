"""Training configuration: a TOML file, then `--set key=value` overrides.

Every field has a default except the data and the targets, and an unknown key
or a value of the wrong type is an error that names the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kozo.errors import KozoError


class ConfigError(KozoError):
    """A training configuration that cannot be used as written."""


@dataclass
class TrainConfig:
    data: list[str] = field(default_factory=list)  # data set paths (combined), or ["qm9"]
    targets: list[str] = field(default_factory=list)  # target columns to learn together
    summed_targets: list[str] = field(default_factory=list)  # extensive targets (energies)
    architecture: str = "painn"  # "painn" or "schnet"
    features: int = 64
    interactions: int = 3
    cutoff: float = 5.0  # Å
    batch_size: int = 32
    epochs: int = 100
    learning_rate: float = 5e-4
    schedule: str = "cosine"  # "cosine" (decays to 1% over the epochs) or "constant"
    loss: str = "mse"  # "mse" or "l1" (in normalised units)
    threads: int = 1  # torch threads; more are faster on large structures but not bit-reproducible
    time_limit: float = 0.0  # minutes of training before stopping (0: none); not reproducible
    patience: int = 20  # epochs without a better validation error before stopping
    seed: int = 0
    train_fraction: float = 0.8
    val_fraction: float = 0.1  # the rest is the test split
    split_sizes: list[str] = field(default_factory=list)  # train,val,test counts; overrides fractions
    limit: int = 0  # read only the first N structures (0: all)
    output: str = "runs/model"
    cache_dir: str = ".kozo-cache"
    name: str = "kozo-model"
    version: str = "0.1.0"

    def validate(self) -> "TrainConfig":
        if not self.data:
            raise ConfigError("data is required: one or more data set paths, or 'qm9'")
        if not self.targets:
            raise ConfigError("targets is required: one or more target columns")
        unknown = sorted(set(self.summed_targets) - set(self.targets))
        if unknown:
            raise ConfigError(f"summed_targets {unknown} are not among targets {self.targets}")
        if self.architecture not in ("painn", "schnet"):
            raise ConfigError(f"architecture must be 'painn' or 'schnet'; got {self.architecture!r}")
        if not 0 < self.train_fraction < 1 or not 0 < self.val_fraction < 1 \
                or self.train_fraction + self.val_fraction >= 1:
            raise ConfigError(f"train_fraction + val_fraction must leave a test split; got "
                              f"{self.train_fraction} + {self.val_fraction}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant'; got {self.schedule!r}")
        if self.loss not in ("mse", "l1"):
            raise ConfigError(f"loss must be 'mse' or 'l1'; got {self.loss!r}")
        if self.split_sizes and (len(self.split_sizes) != 3 or not all(
                s.isdigit() and int(s) > 0 for s in self.split_sizes)):
            raise ConfigError(f"split_sizes takes three positive counts train,val,test; "
                              f"got {','.join(self.split_sizes)}")
        for name in ("features", "interactions", "batch_size", "epochs", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not self.cutoff > 0 or not self.learning_rate > 0:
            raise ConfigError("cutoff (Å) and learning_rate must be positive")
        return self


def _coerce(name: str, kind, raw):
    """A value of the field's type from TOML or from a --set string."""
    text = isinstance(raw, str)
    try:
        if kind in ("list[str]", list[str]):
            return [s.strip() for s in raw.split(",") if s.strip()] if text else [str(s) for s in raw]
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be of type {kind}; got {raw!r}") from None


def load_config(path: Path | None, overrides: list[str]) -> TrainConfig:
    """TOML file (optional) plus key=value overrides, validated."""
    fields = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    values = {}
    if path is not None:
        try:
            values.update(tomllib.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such configuration file") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML ({error})") from None
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator:
            raise ConfigError(f"--set takes key=value; got {override!r}")
        values[key.strip()] = value.strip()
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown configuration keys {unknown}; known: {', '.join(fields)}")
    return TrainConfig(**{k: _coerce(k, fields[k], v) for k, v in values.items()}).validate()
