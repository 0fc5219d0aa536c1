"""The model artifacts shipped with kozo, so that `kozo predict` works with no training.

Each subfolder is an artifact (model.onnx + model.json) trained by the
configuration of the same name in model/configs/; `--model NAME` finds it.
"""

from __future__ import annotations

from pathlib import Path

from kozo.errors import KozoError

SHIPPED = Path(__file__).resolve().parent
DEFAULT = "perovskite"


def shipped_models() -> list[str]:
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "model.json").is_file())


def resolve_model(name_or_path: str | Path) -> Path:
    """An artifact folder from a path, or from the name of a shipped model."""
    path = Path(name_or_path)
    if path.exists():
        return path
    if (SHIPPED / str(name_or_path) / "model.json").is_file():
        return SHIPPED / str(name_or_path)
    raise KozoError(f"{name_or_path}: no such artifact folder, nor a shipped model "
                    f"({', '.join(shipped_models()) or 'none shipped'})")
