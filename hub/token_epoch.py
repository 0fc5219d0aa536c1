"""A shared marker that changes whenever a token is revoked, in any process.

Why: the hub remembers authenticated tokens (hub/token_cache.py) so that a
request needs no database read, yet a token revoked by the admin CLI, another
process, must fail on the hub's very next request. Every revocation writes 8
fresh random bytes into a small file beside the database after its
transaction commits; the hub maps that file into memory and compares the
bytes before trusting what it remembers. Reading mapped memory takes no system
call and no database round trip, so the check costs nothing under load.
Revoke through kozo (CLI, API): a token revoked with a bare SQL UPDATE is
seen only once the hub restarts.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import sqlite_utils

SIZE = 8
SUFFIX = "-token-epoch"


def epoch_path(database_path: Path) -> Path:
    return Path(f"{database_path}{SUFFIX}")


def _database_path(db: sqlite_utils.Database) -> Path | None:
    """The file behind a connection (None for an in-memory database)."""
    for _, name, file in db.conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file)
    return None


def _ensure(path: Path) -> None:
    try:
        with path.open("xb") as handle:
            handle.write(os.urandom(SIZE))
    except FileExistsError:
        pass


def bump_token_epoch(db: sqlite_utils.Database) -> None:
    """Tell every hub on this database that its remembered tokens may be revoked; call it
    after the revocation has committed."""
    database = _database_path(db)
    if database is None:
        return
    path = epoch_path(database)
    _ensure(path)
    with path.open("r+b") as handle, mmap.mmap(handle.fileno(), SIZE) as mapping:
        mapping[:SIZE] = os.urandom(SIZE)


class TokenEpoch:
    """The hub's read-only view of the marker: `current()` is the marker's present bytes."""

    def __init__(self, database_path: Path) -> None:
        path = epoch_path(database_path)
        _ensure(path)
        with path.open("rb") as handle:
            self._mapping = mmap.mmap(handle.fileno(), SIZE, access=mmap.ACCESS_READ)

    def current(self) -> bytes:
        return self._mapping[:SIZE]

    def close(self) -> None:
        self._mapping.close()
