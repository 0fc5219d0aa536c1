"""Content-addressed chunk storage on local disk.

A chunk is stored as the zstd-compressed bytes the edge sent, under the sha256 of
its original bytes: `chunks/ab/cd/abcd…`. Guarantee: a chunk is either absent or
complete; it is written to a temporary file on the same disk, fsync'd, renamed
into place and its folder fsync'd, so a crash never leaves a half chunk visible.
The interface (has, put_from_file, open, delete) is all the hub uses, so an
object-store backend can take this one's place.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import BinaryIO, Protocol

from hub.errors import BadRequest, StorageFull
from kozo.durable import fsync_directory

HASH_PATTERN = re.compile(r"[0-9a-f]{64}")


class ChunkStore(Protocol):
    def has(self, sha256: str) -> bool: ...
    def put_from_file(self, sha256: str, source: Path) -> bool: ...
    def open(self, sha256: str) -> BinaryIO: ...
    def delete(self, sha256: str) -> None: ...


def check_hash(sha256: str) -> str:
    """The hash if it is 64 lowercase hex digits; it names a file, so nothing else passes."""
    if not isinstance(sha256, str) or not HASH_PATTERN.fullmatch(sha256):
        raise BadRequest(f"a sha256 must be 64 lowercase hex digits; got {str(sha256)[:80]!r}",
                         code="bad_hash")
    return sha256


class LocalChunkStore:
    """Chunks as files under `root`; the temporary files must live on the same disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        check_hash(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def put_from_file(self, sha256: str, source: Path) -> bool:
        """Move a verified compressed chunk into place; False if it was there already.

        `source` is consumed: renamed into the store, or removed if not needed.
        """
        target = self.path_of(sha256)
        if target.is_file():
            Path(source).unlink(missing_ok=True)
            return False
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(source, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(source, target)
            fsync_directory(target.parent)
        except OSError as error:
            Path(source).unlink(missing_ok=True)
            if error.errno == errno.ENOSPC:
                raise StorageFull("the hub's chunk storage is full") from None
            raise
        return True

    def open(self, sha256: str) -> BinaryIO:
        """The compressed chunk for reading; FileNotFoundError if absent."""
        return open(self.path_of(sha256), "rb")

    def delete(self, sha256: str) -> None:
        self.path_of(sha256).unlink(missing_ok=True)

    def all_hashes(self) -> list[str]:
        """Every stored chunk (for backups and checks, not for the request path)."""
        return sorted(p.name for p in self.root.glob("??/??/*") if HASH_PATTERN.fullmatch(p.name))
