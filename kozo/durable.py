"""Writes that survive a power cut: whole or absent, never torn.

The edge's spool and credential, the hub's chunk store and the spawner's state
file all need the same two steps: write under a temporary name and fsync, then
rename into place and fsync the directory that holds the new name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_directory(directory: Path) -> None:
    """Make a directory's entries (new, renamed, removed files) durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_json_atomically(path: Path, data: Any, *, mode: int = 0o600,
                          indent: int | None = None) -> None:
    """Replace `path` with `data` as JSON, readable by its owner only by default (secrets)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=indent, sort_keys=indent is not None)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)
