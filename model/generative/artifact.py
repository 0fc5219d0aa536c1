"""A generator artifact: a folder with weights.pt and generator.json, found by path or name.

generator.json holds everything needed to rebuild the network and to sample:
mode, element vocabulary, conditioning properties with their units and
normalisation, sizes, noise levels, the atom counts seen in training (de novo
sampling draws from them) and default sampling settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from kozo.errors import KozoError
from model.generative.diffusion import CrystalDiffusion, Normalisation

WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = "generator.json"
FORMAT_VERSION = 1
SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "generators"
SHIPPED_DE_NOVO, SHIPPED_CSP = "perovskite", "perovskite-csp"


class GeneratorNotFound(KozoError):
    """Neither a generator folder nor the name of a shipped generator."""


def shipped_generators() -> list[str]:
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / CONFIG_FILE).is_file())


def default_generator(requested: str | None, composition_given: bool) -> str:
    """The generator asked for; else the shipped one suited to the request. A dedicated CSP
    generator predicts structures for a composition better than the de novo one, which is
    the only one that also chooses the elements (generation from a property alone)."""
    if requested:
        return requested
    if composition_given and SHIPPED_CSP in shipped_generators():
        return SHIPPED_CSP
    return SHIPPED_DE_NOVO


def resolve_generator(name_or_path: str | Path) -> Path:
    """A generator folder from a path, or from the name of one shipped in
    model/pretrained/generators/."""
    path = Path(name_or_path)
    if (path / CONFIG_FILE).is_file():
        return path
    if path.exists():
        raise GeneratorNotFound(f"{path}: not a generator folder (no {CONFIG_FILE}); "
                                f"`kozo model train-generator` writes one in RUN/generator")
    if (SHIPPED / str(name_or_path) / CONFIG_FILE).is_file():
        return SHIPPED / str(name_or_path)
    raise GeneratorNotFound(f"{name_or_path}: no such generator folder, nor a shipped generator "
                            f"({', '.join(shipped_generators()) or 'none shipped yet'})")


def save_generator(model: CrystalDiffusion, directory: Path, extra: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), directory / WEIGHTS_FILE)
    description = {"format_version": FORMAT_VERSION, "mode": model.mode,
                   "vocabulary": model.vocabulary, "properties": model.properties,
                   "normalisation": asdict(model.normalisation),
                   "features": model.denoiser.n_features, "layers": len(model.denoiser.messages),
                   "cutoff": model.denoiser.cutoff, "sigma_min": model.sigma_min,
                   "sigma_max": model.sigma_max} | extra
    (directory / CONFIG_FILE).write_text(json.dumps(description, indent=2) + "\n")
    return directory


def build_from_description(description: dict) -> CrystalDiffusion:
    return CrystalDiffusion(mode=description["mode"], vocabulary=description["vocabulary"],
                            properties=description["properties"],
                            normalisation=Normalisation(**description["normalisation"]),
                            features=description["features"], layers=description["layers"],
                            cutoff=description["cutoff"], sigma_min=description["sigma_min"],
                            sigma_max=description["sigma_max"])


def load_generator(name_or_path: str | Path) -> tuple[CrystalDiffusion, dict]:
    """The model (in eval mode) and its generator.json."""
    directory = resolve_generator(name_or_path)
    description = json.loads((directory / CONFIG_FILE).read_text())
    if description.get("format_version") != FORMAT_VERSION:
        raise GeneratorNotFound(f"{directory}: generator format "
                                f"{description.get('format_version')}, expected {FORMAT_VERSION}")
    model = build_from_description(description)
    model.load_state_dict(torch.load(directory / WEIGHTS_FILE, weights_only=True))
    return model.eval(), description
