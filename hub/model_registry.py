"""Model artifacts by name and version, and which one the edges should use.

An upload is a zip holding model.json and model.onnx at its top level. The hub
keeps the unpacked artifact (for server-side prediction) and a canonical zip of
exactly those two files (what edges download), under models/NAME/VERSION/.
Guarantee: a version is immutable once stored; the same content uploaded again
is accepted, different content under the same version is refused (409).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlite_utils

from hub.database import now, record_audit
from hub.errors import BadRequest, Conflict, NotFound, TooLarge
from model.artifact import (METADATA_FILE, MODEL_FILE, ArtifactError, ArtifactMetadata,
                            write_archive)

VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
CURRENT_KEY = "current_model"
ARCHIVE_NAME = "archive.zip"


@dataclass(frozen=True)
class StagedModel:
    folder: Path  # holds artifact/ and archive.zip
    metadata: ArtifactMetadata
    sha256: str  # of the canonical archive


class ModelRegistry:
    def __init__(self, root: Path, db: sqlite_utils.Database, temp_dir: Path) -> None:
        self.root, self.db, self.temp_dir = Path(root), db, Path(temp_dir)
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, name: str, version: str) -> Path:
        for label, value in (("name", name), ("version", version)):
            if not VERSION_PATTERN.fullmatch(value):
                raise BadRequest(f"a model {label} must be 1-64 letters, digits, '.', '_', '+' "
                                 f"or '-'; got {value[:80]!r}", code="bad_model_name")
        return self.root / name / version

    def unpack_upload(self, upload: Path, max_unpacked_bytes: int) -> "StagedModel":
        """Check an uploaded zip and stage its artifact (no database: runs in a thread)."""
        staging = Path(tempfile.mkdtemp(prefix="model-", dir=self.temp_dir))
        try:
            artifact = staging / "artifact"
            _unpack(upload, artifact, max_unpacked_bytes)
            try:
                metadata = ArtifactMetadata.read(artifact)
            except ArtifactError as error:
                raise BadRequest(str(error).replace(str(artifact), "the archive"),
                                 code="bad_artifact") from None
            self.folder(metadata.name, metadata.version)
            sha256 = write_archive(artifact, staging / ARCHIVE_NAME)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return StagedModel(staging, metadata, sha256)

    def add_staged(self, staged: "StagedModel", *, uploaded_by: str) -> tuple[dict, bool]:
        """Keep a staged artifact; (record, True) if new, (record, False) if already held."""
        metadata = staged.metadata
        try:
            existing = self.record(metadata.name, metadata.version, missing_ok=True)
            if existing is not None:
                if existing["sha256"] != staged.sha256:
                    raise Conflict(f"model {metadata.name} {metadata.version} exists with "
                                   "other content; give the new one a new version",
                                   code="model_version_exists")
                return existing, False
            target = self.folder(metadata.name, metadata.version)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # left by a crash before the row was written
                shutil.rmtree(target)
            os.replace(staged.folder, target)
            record = {"name": metadata.name, "version": metadata.version,
                      "sha256": staged.sha256, "size": (target / ARCHIVE_NAME).stat().st_size,
                      "metadata": json.dumps(asdict(metadata)), "uploaded": now(),
                      "uploaded_by": uploaded_by}
            with self.db.atomic():
                self.db["models"].insert(record)
                record_audit(self.db, uploaded_by, "model.add",
                             f"{metadata.name}/{metadata.version}", sha256=staged.sha256)
            return self.record(metadata.name, metadata.version), True
        finally:
            shutil.rmtree(staged.folder, ignore_errors=True)

    def record(self, name: str, version: str, *, missing_ok: bool = False) -> dict | None:
        rows = list(self.db.query("SELECT * FROM models WHERE name = ? AND version = ?",
                                  [name, version]))
        if not rows and not missing_ok:
            raise NotFound(f"no model {name[:64]} version {version[:64]}", code="unknown_model")
        return describe(rows[0]) if rows else None

    def all(self) -> list[dict]:
        return [describe(r) for r in self.db.query(
            "SELECT * FROM models ORDER BY name, uploaded")]

    def archive(self, name: str, version: str) -> Path:
        self.record(name, version)
        return self.folder(name, version) / ARCHIVE_NAME

    def artifact(self, name: str, version: str) -> Path:
        self.record(name, version)
        return self.folder(name, version) / "artifact"

    def set_current(self, name: str, version: str, actor: str) -> dict:
        record = self.record(name, version)
        with self.db.atomic():
            self.db["settings"].upsert({"key": CURRENT_KEY, "value": json.dumps(
                {"name": name, "version": version})}, pk="key")
            record_audit(self.db, actor, "model.current", f"{name}/{version}")
        return record

    def current(self) -> dict | None:
        rows = list(self.db.query("SELECT value FROM settings WHERE key = ?", [CURRENT_KEY]))
        if not rows:
            return None
        chosen = json.loads(rows[0]["value"])
        return self.record(chosen["name"], chosen["version"], missing_ok=True)


def describe(row: dict) -> dict:
    metadata = json.loads(row["metadata"])
    return {"name": row["name"], "version": row["version"], "sha256": row["sha256"],
            "size": row["size"], "uploaded": row["uploaded"], "cutoff": metadata["cutoff"],
            "targets": [{"name": t["name"], "unit": t["unit"]} for t in metadata["targets"]],
            "metrics": metadata.get("metrics", {})}


def _unpack(upload: Path, artifact: Path, max_unpacked_bytes: int) -> None:
    """Copy model.json and model.onnx out of the zip, reading no more than declared."""
    artifact.mkdir()
    try:
        with zipfile.ZipFile(upload) as archive:
            members = {info.filename: info for info in archive.infolist()}
            for name in (METADATA_FILE, MODEL_FILE):
                info = members.get(name)
                if info is None:
                    raise BadRequest(f"the archive has no {name} at its top level",
                                     code="bad_artifact")
                if info.file_size > max_unpacked_bytes:
                    raise TooLarge(f"{name} may be at most {max_unpacked_bytes} bytes "
                                   "unpacked", code="artifact_too_large")
                with archive.open(info) as source, open(artifact / name, "wb") as target:
                    shutil.copyfileobj(source, target, 1024 * 1024)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise BadRequest(f"not a usable zip archive ({error})", code="bad_archive") from None
