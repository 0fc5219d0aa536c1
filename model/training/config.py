"""Training configuration: a TOML file, then `--set key=value` overrides.

Every field has a default except the data and the targets, and an unknown key
or a value of the wrong type is an error that names the key.

Issue 4's keys: `split` (random, or extrapolation with `tail_percentiles` of
`split_target`), `shot_bins`/`shot_thresholds` (MAE per many/medium/few-shot
group), `loss_weighting=lds` with its `lds_*` keys, `loss=balanced_mse` with
its `bmc_*` keys (see imbalance.py), and `init`/`freeze_layers` to fine-tune a
`kozo model pretrain` backbone (see finetune.py).
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
    ema_decay: float = 0.0  # exponential moving average of the weights per step (0: off; e.g. 0.999)
    weight_decay: float = 0.0  # AdamW's decoupled weight decay (0: plain Adam)
    loss: str = "mse"  # "mse", "l1" (in normalised units) or "balanced_mse" (Ren et al. 2022, BMC)
    target_losses: list[str] = field(default_factory=list)  # name=mse|l1: that target's loss instead of `loss`
    loss_weighting: str = "none"  # "none" or "lds": label-distribution smoothing (Yang et al. 2021)
    lds_bins: int = 100  # LDS: equal-width bins over each target's training range
    lds_kernel_size: int = 5  # LDS: Gaussian kernel width in bins (odd)
    lds_sigma: float = 2.0  # LDS: Gaussian kernel standard deviation, in bins
    lds_power: float = 0.5  # LDS: weight ∝ 1 / smoothed density ** power, mean 1 over training
    bmc_noise_sigma: float = 0.5  # balanced_mse: label noise σ, in units of the target's std
    bmc_learn_sigma: bool = False  # balanced_mse: learn σ (one per target) instead of fixing it
    bmc_sigma_learning_rate: float = 1e-2  # balanced_mse: Adam rate of a learned σ
    threads: int = 1  # torch threads; more are faster on large structures but not bit-reproducible
    time_limit: float = 0.0  # minutes of training before stopping (0: none); not reproducible
    patience: int = 20  # epochs without a better validation error before stopping
    seed: int = 0
    split_seed: int = -1  # seed of the split (-1: `seed`); runs that differ only in initialisation share a split
    train_fraction: float = 0.8
    val_fraction: float = 0.1  # the rest is the test split
    split_sizes: list[str] = field(default_factory=list)  # train,val,test counts; overrides fractions
    train_limit: int = 0  # learn from N structures drawn from the train split (0: all); val and test unchanged
    split: str = "random"  # "random", or "extrapolation": train on the centre, test on the tails
    split_target: str = ""  # extrapolation: the target whose tails are held out (default: first)
    tail_percentiles: list[float] = field(default_factory=lambda: [10.0, 90.0])  # extrapolation
    shot_bins: int = 50  # imbalance report: equal-width bins over the training-label range
    shot_thresholds: list[float] = field(default_factory=lambda: [20.0, 100.0])  # few < 20 ≤ medium ≤ 100 < many training labels per bin
    init: str = ""  # pre-trained backbone: a `kozo model pretrain` run folder or its checkpoint
    freeze_layers: int = 0  # with init: freeze the first N layers (1 = embedding, 1+k = embedding and k interactions)
    export: bool = True  # write artifact/ (model.onnx + model.json) at the end
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
        if self.loss not in ("mse", "l1", "balanced_mse"):
            raise ConfigError(f"loss must be 'mse', 'l1' or 'balanced_mse'; got {self.loss!r}")
        self._validate_imbalance()
        self.losses  # noqa: B018 (raises ConfigError on a bad target_losses entry)
        if self.split_sizes and (len(self.split_sizes) != 3 or not all(
                s.isdigit() and int(s) > 0 for s in self.split_sizes)):
            raise ConfigError(f"split_sizes takes three positive counts train,val,test; "
                              f"got {','.join(self.split_sizes)}")
        if self.split_seed < -1 or self.train_limit < 0:
            raise ConfigError(f"split_seed takes -1 (the seed) or a seed ≥ 0, and train_limit a "
                              f"count ≥ 0; got {self.split_seed}, {self.train_limit}")
        for name in ("features", "interactions", "batch_size", "epochs", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not 0 <= self.ema_decay < 1 or self.weight_decay < 0:
            raise ConfigError(f"ema_decay takes 0 ≤ decay < 1 and weight_decay ≥ 0; got "
                              f"{self.ema_decay}, {self.weight_decay}")
        if not self.cutoff > 0 or not self.learning_rate > 0:
            raise ConfigError("cutoff (Å) and learning_rate must be positive")
        if self.freeze_layers < 0 or (self.freeze_layers and not self.init):
            raise ConfigError(f"freeze_layers takes a count ≥ 0 of pre-trained layers and needs "
                              f"init; got {self.freeze_layers} with init={self.init!r}")
        if self.freeze_layers > self.interactions + 1:
            raise ConfigError(f"freeze_layers counts the embedding and {self.interactions} "
                              f"interactions, at most {self.interactions + 1}; "
                              f"got {self.freeze_layers}")
        return self

    def _validate_imbalance(self) -> None:
        if self.split not in ("random", "extrapolation"):
            raise ConfigError(f"split must be 'random' or 'extrapolation'; got {self.split!r}")
        if self.split == "extrapolation" and self.split_sizes:
            raise ConfigError("split_sizes applies to split=random only; the extrapolation "
                              "split takes train_fraction and val_fraction of the centre")
        if self.split_target and self.split_target not in self.targets:
            raise ConfigError(f"split_target {self.split_target!r} is not among targets "
                              f"{self.targets}")
        low, high = (self.tail_percentiles + [0.0, 0.0])[:2]
        if len(self.tail_percentiles) != 2 or not 0 <= low < high <= 100:
            raise ConfigError(f"tail_percentiles takes two percentiles low,high with "
                              f"0 ≤ low < high ≤ 100; got {self.tail_percentiles}")
        few, many = (self.shot_thresholds + [0.0, 0.0])[:2]
        if len(self.shot_thresholds) != 2 or not 0 <= few <= many or self.shot_bins < 1:
            raise ConfigError(f"shot_thresholds takes two counts few,many with few ≤ many and "
                              f"shot_bins ≥ 1; got {self.shot_thresholds}, {self.shot_bins}")
        if self.loss_weighting not in ("none", "lds"):
            raise ConfigError(f"loss_weighting must be 'none' or 'lds'; got "
                              f"{self.loss_weighting!r}")
        if self.loss_weighting == "lds" and self.loss == "balanced_mse":
            raise ConfigError("loss_weighting=lds weights mse and l1; balanced_mse balances "
                              "by itself: use one or the other")
        if self.lds_bins < 1 or self.lds_kernel_size < 1 or self.lds_kernel_size % 2 == 0 \
                or not self.lds_sigma > 0 or self.lds_power < 0:
            raise ConfigError(f"LDS takes lds_bins ≥ 1, an odd lds_kernel_size, lds_sigma > 0 "
                              f"and lds_power ≥ 0; got {self.lds_bins}, {self.lds_kernel_size}, "
                              f"{self.lds_sigma}, {self.lds_power}")
        if not self.bmc_noise_sigma > 0 or not self.bmc_sigma_learning_rate > 0:
            raise ConfigError(f"bmc_noise_sigma and bmc_sigma_learning_rate must be positive; "
                              f"got {self.bmc_noise_sigma}, {self.bmc_sigma_learning_rate}")

    @property
    def losses(self) -> dict[str, str]:
        """Each target's loss: `loss`, unless `target_losses` names another for it.

        One loss rarely suits every target: an L1 loss fits energies best, but a band gap
        that is 0 for most structures is learned as 0 by it (its median)."""
        kinds = dict.fromkeys(self.targets, self.loss)
        for entry in self.target_losses:
            name, _, kind = (part.strip() for part in entry.partition("="))
            if name not in kinds or kind not in ("mse", "l1"):
                raise ConfigError(f"target_losses takes target=mse or target=l1 for targets "
                                  f"{self.targets}; got {entry!r}")
            if self.loss == "balanced_mse":
                raise ConfigError("target_losses applies to loss mse or l1; balanced_mse "
                                  "contrasts each label with its whole batch")
            kinds[name] = kind
        return kinds

    @property
    def split_rng_seed(self) -> int:
        """The seed that fixes the split (and the train_limit draw)."""
        return self.seed if self.split_seed == -1 else self.split_seed

    @property
    def tail_target(self) -> str:
        """The target whose tails an extrapolation split holds out."""
        return self.split_target or self.targets[0]


def _coerce(name: str, kind, raw):
    """A value of the field's type from TOML or from a --set string."""
    text = isinstance(raw, str)
    try:
        if kind in ("list[str]", list[str]):
            return [s.strip() for s in raw.split(",") if s.strip()] if text else [str(s) for s in raw]
        if kind in ("list[float]", list[float]):
            items = [s.strip() for s in raw.split(",") if s.strip()] if text else raw
            return [float(s) for s in items]
        if kind in ("bool", bool):
            if isinstance(raw, bool):
                return raw
            if text and raw.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
                return raw.strip().lower() in ("true", "1", "yes")
            raise ValueError(raw)
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be of type {kind}; got {raw!r}") from None


def load_config(path: Path | None, overrides: list[str], kind: type = TrainConfig):
    """TOML file (optional) plus key=value overrides, validated; `kind` is TrainConfig or
    another configuration dataclass with a validate() method (PretrainConfig)."""
    fields = {f.name: f.type for f in dataclasses.fields(kind)}
    values = merged_values(path, overrides)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown configuration keys {unknown}; known: {', '.join(fields)}")
    return kind(**{k: _coerce(k, fields[k], v) for k, v in values.items()}).validate()


def merged_values(path: Path | None, overrides: list[str]) -> dict:
    """The raw key → value pairs of a TOML file (optional) and key=value overrides, unchecked."""
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
    return values
