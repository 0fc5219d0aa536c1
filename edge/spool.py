"""SQLite spool between the watcher and the sync client: the edge's queue.

A file enters once hashed, compressed and durable, and leaves (its chunks are
freed) when the hub has committed it.

Guarantee: at least once, never lost. An entry reaches the `pending` state
only after all its chunk files and its manifest are written, renamed into
place and synced to disk (one syncfs per batch of files, which is what makes
hundreds of small files per second possible on an SD card), and then its row
is committed with `synchronous=FULL`; a power cut leaves
either no row (the source is read again) or a row whose bytes are on disk.
Chunks are freed only after the `acknowledged` row is durable. An
unacknowledged entry is never deleted: when the disk cap is reached, new files
are refused with SpoolFull and stay at the source. The same content at the
same path is spooled once: its upload id is derived from (path, sha256), so
even a retry after a lost database row is idempotent at the hub.

Where the bytes live: compressed chunks are plain files beside the database,
`entries/<upload_id>/000000.zst ...` with a `manifest.json`, not SQLite blobs.
On an SD card a blob in WAL mode is written twice (WAL, then checkpoint),
freeing it needs a VACUUM to return space, and a damaged database page would
take file data with it. As files, every byte is written once, freed with one
unlink, and the database is only an index that `kozo edge fsck` can rebuild
from the manifests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import sqlite_utils

from edge.chunking import CHUNK_SIZE, Chunk, read_chunk, sync_filesystem, write_chunks
from edge.errors import SourceChanged, SpoolFull
from kozo.durable import fsync_directory

PENDING, IN_FLIGHT, ACKNOWLEDGED = "pending", "in_flight", "acknowledged"
REJECTED, CORRUPT = "rejected", "corrupt"  # need a person, or fsck; never deleted
UNACKNOWLEDGED = (PENDING, IN_FLIGHT, REJECTED, CORRUPT)
MANIFEST = "manifest.json"
DATABASE = "spool.db"

# (predictions, check_error) for a source file, or (None, None) when it is no structure
QuickCheckFn = Callable[[Path], tuple[dict | None, str | None]]


@dataclass
class Entry:
    upload_id: str
    path: str  # relative to the watched folder, as the hub sees it
    source: str  # absolute path at the time it was read
    sha256: str
    size: int
    modified: float  # seconds since the epoch
    chunks: list[Chunk]
    predictions: dict | None = None
    check_error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    state: str = PENDING

    @property
    def stored_size(self) -> int:
        return sum(c.stored_size for c in self.chunks)

    def manifest(self) -> dict:
        record = asdict(self)
        record.pop("state")
        record["chunks"] = [[c.sha256, c.size, c.stored_size] for c in self.chunks]
        return record

    @classmethod
    def from_manifest(cls, record: dict, state: str = PENDING) -> "Entry":
        record = dict(record)
        record["chunks"] = [Chunk(*c) for c in record["chunks"]]
        return cls(**record, state=state)


def upload_id_for(path: str, sha256: str) -> str:
    """The same (path, content) always gets the same id, so a retry is never a new file."""
    return "up_" + hashlib.sha256(f"{path}\0{sha256}".encode("utf-8", "surrogateescape"))\
        .hexdigest()[:32]


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def create_schema(db: sqlite_utils.Database) -> None:
    db["files"].create({
        "upload_id": str, "path": str, "source": str, "sha256": str, "size": int,
        "modified": float, "chunks": str, "stored_bytes": int, "state": str,
        "predictions": str, "check_error": str, "metadata": str, "spooled_at": float,
        "acknowledged_at": float, "hub_file": str, "attempts": int, "last_error": str,
    }, pk="upload_id", if_not_exists=True)
    db["files"].create_index(["state"], if_not_exists=True)
    db["files"].create_index(["path", "sha256"], unique=True, if_not_exists=True)
    db["files"].create_index(["sha256"], if_not_exists=True)
    db["seen"].create({"source": str, "device": int, "inode": int, "size": int,
                       "mtime_ns": int, "sha256": str}, pk="source", if_not_exists=True)


def connect(path: Path) -> sqlite_utils.Database:
    """A connection in WAL mode whose commits are durable (synchronous=FULL)."""
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    db.enable_wal()
    conn.execute("PRAGMA synchronous=FULL")
    return db


def row_to_entry(row: dict) -> Entry:
    return Entry(upload_id=row["upload_id"], path=row["path"], source=row["source"],
                 sha256=row["sha256"], size=row["size"], modified=row["modified"],
                 chunks=[Chunk(*c) for c in json.loads(row["chunks"])],
                 predictions=json.loads(row["predictions"]) if row["predictions"] else None,
                 check_error=row["check_error"],
                 metadata=json.loads(row["metadata"]) if row["metadata"] else {},
                 state=row["state"])


def entry_to_row(entry: Entry, spooled_at: float) -> dict:
    return {"upload_id": entry.upload_id, "path": entry.path, "source": entry.source,
            "sha256": entry.sha256, "size": entry.size, "modified": entry.modified,
            "chunks": json.dumps([[c.sha256, c.size, c.stored_size] for c in entry.chunks]),
            "stored_bytes": entry.stored_size, "state": entry.state,
            "predictions": json.dumps(entry.predictions) if entry.predictions else None,
            "check_error": entry.check_error, "metadata": json.dumps(entry.metadata),
            "spooled_at": spooled_at, "acknowledged_at": None, "hub_file": None,
            "attempts": 0, "last_error": None}


class Spool:
    """The spool folder: `spool.db` (the index) and `entries/` (the bytes).

    Safe to use from several threads: each thread gets its own connection.
    """

    def __init__(self, directory: str | Path, *, cap_bytes: int = 8_000_000_000,
                 zstd_level: int = 3, chunk_size: int = CHUNK_SIZE) -> None:
        self.directory = Path(directory)
        self.entries = self.directory / "entries"
        self.entries.mkdir(parents=True, exist_ok=True)
        self.db_path = self.directory / DATABASE
        self.cap_bytes = cap_bytes
        self.zstd_level = zstd_level
        self.chunk_size = chunk_size
        self._local = threading.local()
        self._connections: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        create_schema(self.db)

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.db_path)
            with self._lock:
                self._connections.append(db)
        return db

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.conn.close()
            self._connections.clear()
        self._local = threading.local()

    def entry_directory(self, upload_id: str) -> Path:
        return self.entries / upload_id

    # -- taking files in ------------------------------------------------------------

    def is_unchanged(self, source: Path) -> bool:
        """True when `source` has the same inode, size and mtime as when last spooled."""
        try:
            st = os.stat(source)
        except OSError:
            return False
        return self._seen_matches(str(source), st)

    def _seen_matches(self, source: str, st: os.stat_result) -> bool:
        # Only a record backed by its files row counts: after a database rebuild that
        # kept one but lost the other, the source is read again rather than skipped.
        row = self.db.execute(
            "SELECT s.device, s.inode, s.size, s.mtime_ns FROM seen s WHERE s.source = ? AND "
            "EXISTS (SELECT 1 FROM files f WHERE f.sha256 = s.sha256 AND f.source = s.source)",
            [source]).fetchone()
        return row is not None and tuple(row) == _signature(st)

    def used_bytes(self) -> int:
        """Compressed bytes held for files the hub has not acknowledged."""
        placeholders = ",".join("?" * len(UNACKNOWLEDGED))
        return self.db.execute(f"SELECT coalesce(sum(stored_bytes), 0) FROM files "
                               f"WHERE state IN ({placeholders})", UNACKNOWLEDGED).fetchone()[0]

    def ensure_room(self, size: int) -> None:
        used = self.used_bytes()
        if used + size > self.cap_bytes:
            raise SpoolFull(f"spool full: {used} of {self.cap_bytes} bytes hold unacknowledged "
                            f"files; a file of {size} bytes waits at the source until the hub "
                            "acknowledges some")

    def ingest(self, source: str | Path, path: str, *, check: QuickCheckFn | None = None,
               metadata: dict | None = None) -> Entry | None:
        """Spool one source file; None when this content at this path is already spooled.

        Raises SourceChanged when the file changed, moved or vanished while read
        (the caller tries again after it settles) and SpoolFull at the cap.
        """
        [result] = self.ingest_batch([(Path(source), path)], check=check, metadata=metadata)
        if isinstance(result, Exception):
            raise result
        return result

    def ingest_batch(self, files: list[tuple[Path, str]], *, check: QuickCheckFn | None = None,
                     metadata: dict | None = None) -> list[Entry | None | Exception]:
        """Spool several (source, path) pairs with one filesystem sync and one commit.

        One result per pair, in order: the Entry, None (already spooled), or the
        SourceChanged / SpoolFull / OSError that kept it out. Durability order:
        all chunk files, manifests and renames are synced (syncfs) before the
        rows are committed, so a row never names bytes that are not on disk.
        """
        results: list[Entry | None | Exception] = []
        staged: list[tuple[Entry, dict]] = []
        seen_only: list[dict] = []
        room = self.cap_bytes - self.used_bytes()
        for source, path in files:
            partial = self.entries / f".partial-{uuid.uuid4().hex}"
            try:
                before = os.stat(source)
                if self._seen_matches(str(source), before):
                    results.append(None)
                    continue
                # A file larger than the whole cap would wait for ever: it goes in alone,
                # when nothing else is held (the cap bounds the backlog, not one file).
                alone = room >= self.cap_bytes and not staged
                if before.st_size > room and not alone:
                    raise SpoolFull(f"spool full: {self.cap_bytes - room} of {self.cap_bytes} "
                                    "bytes hold unacknowledged files; a file of "
                                    f"{before.st_size} bytes waits at the source until the "
                                    "hub acknowledges some")
                partial.mkdir()
                entry, seen = self._read_into(partial, Path(source), path, check,
                                              metadata or {})
                duplicate = any(e.path == path and e.sha256 == entry.sha256
                                for e, _ in staged)
                if duplicate or self.db.execute(
                        "SELECT 1 FROM files WHERE path = ? AND sha256 = ?",
                        [path, entry.sha256]).fetchone():
                    seen_only.append(seen)
                    results.append(None)
                    continue
                write_manifest(partial, entry, durable=False)
                final = self.entry_directory(entry.upload_id)
                if final.exists():  # torn leftover of a crash before its row was committed
                    shutil.rmtree(final)
                os.rename(partial, final)
                room -= entry.stored_size
                staged.append((entry, seen))
                results.append(entry)
            except FileNotFoundError:
                results.append(SourceChanged(f"{source}: vanished before it was read"))
            except (SourceChanged, SpoolFull, OSError) as error:
                results.append(error)
            finally:
                if partial.exists():
                    shutil.rmtree(partial, ignore_errors=True)
        if staged:
            sync_filesystem(self.entries)
        if staged or seen_only:
            spooled_at = time.time()
            rows = [entry_to_row(entry, spooled_at) for entry, _ in staged]
            seens = [seen for _, seen in staged] + seen_only
            with self.db.conn:  # plain executemany: sqlite-utils' insert costs ~10 queries a row
                if rows:
                    self.db.conn.executemany(
                        f"INSERT INTO files ({', '.join(rows[0])}) "
                        f"VALUES ({', '.join(':' + k for k in rows[0])})", rows)
                self.db.conn.executemany(
                    f"INSERT OR REPLACE INTO seen ({', '.join(seens[0])}) "
                    f"VALUES ({', '.join(':' + k for k in seens[0])})", seens)
        return results

    def _read_into(self, partial: Path, source: Path, path: str, check: QuickCheckFn | None,
                   metadata: dict) -> tuple[Entry, dict]:
        try:
            handle = open(source, "rb")
        except FileNotFoundError:
            raise SourceChanged(f"{source}: vanished before it was read") from None
        with handle:
            opened = os.fstat(handle.fileno())
            chunked = write_chunks(handle, partial, level=self.zstd_level,
                                   chunk_size=self.chunk_size, durable=False)
        predictions, check_error = check(source) if check else (None, None)
        try:
            after = os.stat(source)
        except FileNotFoundError:
            raise SourceChanged(f"{source}: moved or deleted while it was read") from None
        if _signature(after) != _signature(opened) or chunked.size != opened.st_size:
            raise SourceChanged(f"{source}: changed while it was read")
        entry = Entry(upload_id=upload_id_for(path, chunked.sha256), path=path,
                      source=str(source), sha256=chunked.sha256, size=chunked.size,
                      modified=opened.st_mtime, chunks=chunked.chunks,
                      predictions=predictions, check_error=check_error, metadata=metadata)
        seen = {"source": str(source), "device": opened.st_dev, "inode": opened.st_ino,
                "size": opened.st_size, "mtime_ns": opened.st_mtime_ns,
                "sha256": chunked.sha256}
        return entry, seen

    def adopt(self, entry: Entry, state: str = PENDING) -> None:
        """Record an entry whose directory is already complete (used by fsck)."""
        row = entry_to_row(entry, time.time())
        row["state"] = state
        with self.db.conn:
            self.db["files"].insert(row, replace=True)

    # -- handing files to the sync client -------------------------------------------

    def pending(self, limit: int = 100, skip: set[str] | frozenset = frozenset()) -> list[Entry]:
        """Entries to send, oldest first (in_flight ones were interrupted: send again)."""
        rows = self.db.execute(
            "SELECT * FROM files WHERE state IN (?, ?) ORDER BY spooled_at LIMIT ?",
            [PENDING, IN_FLIGHT, limit + len(skip)]).fetchall()
        columns = [d[0] for d in self.db.execute("SELECT * FROM files LIMIT 0").description]
        entries = [row_to_entry(dict(zip(columns, r, strict=True))) for r in rows]
        return [e for e in entries if e.upload_id not in skip][:limit]

    def get(self, upload_id: str) -> Entry | None:
        rows = list(self.db.query("SELECT * FROM files WHERE upload_id = ?", [upload_id]))
        return row_to_entry(rows[0]) if rows else None

    def all_entries(self, states: tuple[str, ...] = UNACKNOWLEDGED) -> list[Entry]:
        placeholders = ",".join("?" * len(states))
        return [row_to_entry(r) for r in self.db.query(
            f"SELECT * FROM files WHERE state IN ({placeholders}) ORDER BY spooled_at", states)]

    def chunk_frame(self, upload_id: str, index: int) -> bytes:
        """One chunk as spooled (zstd frame); OSError when its file is gone."""
        return read_chunk(self.entry_directory(upload_id), index)

    def mark_in_flight(self, *upload_ids: str) -> None:
        # Not fsynced on its own: after a crash in_flight and pending mean the same.
        self.db.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.db.conn:
                self.db.conn.executemany("UPDATE files SET state = ?, attempts = attempts + 1 "
                                         "WHERE upload_id = ? AND state = ?",
                                         [(IN_FLIGHT, u, PENDING) for u in upload_ids])
        finally:
            self.db.conn.execute("PRAGMA synchronous=FULL")

    def mark_acknowledged(self, committed: list[tuple[str, str]]) -> None:
        """Durably record the hub's commits, (upload_id, hub_file) pairs in one transaction,
        then free those entries' chunks."""
        now = time.time()
        with self.db.conn:
            self.db.conn.executemany(
                "UPDATE files SET state = ?, hub_file = ?, acknowledged_at = ?, "
                "last_error = NULL WHERE upload_id = ?",
                [(ACKNOWLEDGED, hub_file, now, upload_id) for upload_id, hub_file in committed])
        for upload_id, _ in committed:
            shutil.rmtree(self.entry_directory(upload_id), ignore_errors=True)

    def mark_problem(self, upload_id: str, state: str, error: str) -> None:
        """Set aside an entry that needs fsck (corrupt) or a person (rejected)."""
        with self.db.conn:
            self.db.execute("UPDATE files SET state = ?, last_error = ? WHERE upload_id = ?",
                            [state, error, upload_id])

    def note_error(self, upload_id: str, error: str) -> None:
        with self.db.conn:
            self.db.execute("UPDATE files SET last_error = ? WHERE upload_id = ?",
                            [error, upload_id])

    def forget(self, upload_id: str) -> None:
        """Drop an entry so that its source is read again (fsck, after saying so)."""
        entry = self.get(upload_id)
        entry_source = entry.source if entry else ""
        with self.db.conn:
            self.db.execute("DELETE FROM files WHERE upload_id = ?", [upload_id])
            self.db.execute("DELETE FROM seen WHERE source = ?", [entry_source])
        shutil.rmtree(self.entry_directory(upload_id), ignore_errors=True)

    # -- reporting ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        counts = {state: {"files": 0, "bytes": 0, "stored_bytes": 0}
                  for state in (*UNACKNOWLEDGED, ACKNOWLEDGED)}
        for state, files, size, stored in self.db.execute(
                "SELECT state, count(*), coalesce(sum(size), 0), coalesce(sum(stored_bytes), 0) "
                "FROM files GROUP BY state"):
            counts[state] = {"files": files, "bytes": size, "stored_bytes": stored}
        last = self.db.execute("SELECT max(acknowledged_at) FROM files").fetchone()[0]
        errors = [{"path": p, "state": s, "error": e} for p, s, e in self.db.execute(
            "SELECT path, state, last_error FROM files WHERE last_error IS NOT NULL "
            "AND state != ? ORDER BY spooled_at DESC LIMIT 10", [ACKNOWLEDGED])]
        used = self.used_bytes()
        return {"states": counts, "used_bytes": used, "cap_bytes": self.cap_bytes,
                "last_acknowledged_at": last, "entry_errors": errors}


def write_manifest(directory: Path, entry: Entry, *, durable: bool = True) -> None:
    """manifest.json; with durable, fsynced and its directory too (else the caller syncs)."""
    path = directory / MANIFEST
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as out:
        json.dump(entry.manifest(), out)
        if durable:
            out.flush()
            os.fsync(out.fileno())
    if durable:
        fsync_directory(directory)


def read_manifest(directory: Path) -> Entry:
    with open(directory / MANIFEST, encoding="utf-8", errors="surrogateescape") as handle:
        return Entry.from_manifest(json.load(handle))
