"""Back up a hub's data folder while it serves, and restore it into an empty one.

The database is copied with SQLite's online backup API (a consistent snapshot,
taken while the hub writes). Chunks and models never change once stored, so
copying them is safe at any time; the order makes the copy complete: chunks
first, then the snapshot, then the chunks committed in between. Guarantee: a
backup that finishes holds every chunk and model its snapshot refers to
(checked before it says so); otherwise it fails and says to run it again.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from hub.chunk_store import LocalChunkStore
from hub.config import HubConfig
from hub.errors import HubError

MANIFEST = "kozo-hub-backup.json"
DATABASE_NAME = "hub.sqlite3"


class BackupError(HubError):
    """A backup or restore that cannot be made, or would be incomplete."""


@dataclass(frozen=True)
class BackupSummary:
    files: int
    chunks: int
    models: int


def _copy_file(source: Path, target: Path) -> None:
    """Copy through a temporary name, so a target either is whole or is not there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(source, partial)
    os.replace(partial, target)


def _copy_chunks(source: LocalChunkStore, target: LocalChunkStore, hashes) -> int:
    copied = 0
    for sha256 in hashes:
        if target.has(sha256):
            continue
        try:
            _copy_file(source.path_of(sha256), target.path_of(sha256))
            copied += 1
        except FileNotFoundError:
            continue  # deleted meanwhile; the check at the end decides if it mattered
    return copied


def _referenced(database: Path) -> tuple[set[str], list[tuple[str, str]], int]:
    """(chunks of live files, (name, version) of models, number of live files) in a snapshot."""
    connection = sqlite3.connect(database)
    try:
        chunks = {r[0] for r in connection.execute(
            "SELECT DISTINCT c.chunk_sha256 FROM file_chunks c JOIN files f ON f.id = c.file_id "
            "WHERE f.deleted IS NULL")}
        models = list(connection.execute("SELECT name, version FROM models"))
        files = connection.execute("SELECT count(*) FROM files WHERE deleted IS NULL").fetchone()[0]
    finally:
        connection.close()
    return chunks, models, files


def _snapshot(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    origin = sqlite3.connect(source)
    copy = sqlite3.connect(partial)
    try:
        origin.backup(copy)
    finally:
        copy.close()
        origin.close()
    os.replace(partial, target)


def back_up(config: HubConfig, destination: Path) -> BackupSummary:
    """Copy the hub under config.data_dir into `destination` (new or empty)."""
    destination = Path(destination)
    if not config.database_path.is_file():
        raise BackupError(f"{config.data_dir}: no hub database to back up")
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination}: not empty; back up into a new folder")
    destination.mkdir(parents=True, exist_ok=True)
    source_chunks = LocalChunkStore(config.chunk_dir)
    target_chunks = LocalChunkStore(destination / "chunks")
    _copy_chunks(source_chunks, target_chunks, source_chunks.all_hashes())
    _snapshot(config.database_path, destination / DATABASE_NAME)
    chunks, models, files = _referenced(destination / DATABASE_NAME)
    _copy_chunks(source_chunks, target_chunks, sorted(chunks))
    for name, version in models:
        folder = config.model_dir / name / version
        if folder.is_dir():
            shutil.copytree(folder, destination / "models" / name / version, dirs_exist_ok=True)
    _check_complete(destination, chunks, models, "the backup")
    summary = BackupSummary(files=files, chunks=len(chunks), models=len(models))
    (destination / MANIFEST).write_text(json.dumps({"created": time.time(),
                                                    **summary.__dict__}, indent=2))
    return summary


def _check_complete(folder: Path, chunks: set[str], models, what: str) -> None:
    store = LocalChunkStore(folder / "chunks")
    lacking = [sha for sha in chunks if not store.has(sha)]
    lacking_models = [f"{n}/{v}" for n, v in models
                      if not (folder / "models" / n / v / "archive.zip").is_file()]
    if lacking or lacking_models:
        raise BackupError(f"{what} lacks {len(lacking)} chunks and {len(lacking_models)} "
                          "models its database refers to (deleted while copying?); "
                          "run it again")


def restore(source: Path, config: HubConfig) -> BackupSummary:
    """Put a backup into config.data_dir, which must hold no hub database yet."""
    source = Path(source)
    if not (source / MANIFEST).is_file() or not (source / DATABASE_NAME).is_file():
        raise BackupError(f"{source}: not a kozo hub backup (no {MANIFEST})")
    if config.database_path.exists():
        raise BackupError(f"{config.data_dir}: holds a hub database already; "
                          "restore into an empty data folder")
    connection = sqlite3.connect(source / DATABASE_NAME)
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
    if verdict != "ok":
        raise BackupError(f"{source / DATABASE_NAME}: damaged ({verdict})")
    chunks, models, files = _referenced(source / DATABASE_NAME)
    _check_complete(source, chunks, models, f"backup {source}")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    target_chunks = LocalChunkStore(config.chunk_dir)
    _copy_chunks(LocalChunkStore(source / "chunks"), target_chunks, sorted(chunks))
    if (source / "models").is_dir():
        shutil.copytree(source / "models", config.model_dir, dirs_exist_ok=True)
    _copy_file(source / DATABASE_NAME, config.database_path)  # last: the hub starts from it
    return BackupSummary(files=files, chunks=len(chunks), models=len(models))
