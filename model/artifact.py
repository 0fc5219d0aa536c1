"""The model artifact: a directory with model.onnx and model.json (DESIGN.md).

model.json says what the ONNX graph computes and on what it was trained:
format version, name and version, targets with units, cutoff, the elements it
has seen, normalisation, training-data fingerprint, split ids and metrics.
Reading is strict, so that the Pi never runs a model it cannot describe.
No torch here: the edge and the hub read artifacts too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kozo.errors import KozoError

FORMAT_VERSION = 1
MODEL_FILE = "model.onnx"
METADATA_FILE = "model.json"
FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # the same files always give the same archive hash


class ArtifactError(KozoError):
    """A model artifact that is missing, incomplete or of an unknown format."""


@dataclass
class TargetInfo:
    name: str
    unit: str
    aggregation: str  # "mean" or "sum"
    mean: float  # normalisation applied inside the graph (for reference)
    std: float


@dataclass
class ArtifactMetadata:
    name: str
    version: str
    cutoff: float  # Å, the neighbour-list radius the model was trained with
    elements: list[int]  # atomic numbers seen in training
    targets: list[TargetInfo]
    data_fingerprint: str = ""
    splits: dict[str, list[str]] = field(default_factory=dict)  # train/val/test → ids
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # split → metric → value
    architecture: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def write(self, directory: Path) -> Path:
        path = Path(directory) / METADATA_FILE
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> "ArtifactMetadata":
        directory = Path(directory)
        for name in (MODEL_FILE, METADATA_FILE):
            if not (directory / name).is_file():
                raise ArtifactError(f"{directory}: not a model artifact (no {name})")
        try:
            raw = json.loads((directory / METADATA_FILE).read_text())
        except ValueError as error:
            raise ArtifactError(f"{directory / METADATA_FILE}: not JSON ({error})") from None
        if raw.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"{directory / METADATA_FILE}: format version "
                                f"{raw.get('format_version')!r}, this kozo reads {FORMAT_VERSION}")
        try:
            raw["targets"] = [TargetInfo(**t) for t in raw["targets"]]
            return cls(**raw)
        except (KeyError, TypeError) as error:
            raise ArtifactError(f"{directory / METADATA_FILE}: incomplete or unknown fields "
                                f"({error})") from None


def write_archive(artifact: Path, target: Path) -> str:
    """The artifact as one zip (model.json and model.onnx at its top), as the hub's registry
    stores and serves it and accepts it as an upload; returns the archive's sha256."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in (METADATA_FILE, MODEL_FILE):
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(artifact / name, "rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1024 * 1024)
    digest = hashlib.sha256()
    with open(target, "rb") as handle:
        while piece := handle.read(1024 * 1024):
            digest.update(piece)
    return digest.hexdigest()
