"""Find and repair torn or corrupt spool entries, and a damaged spool database.

Guarantee: nothing the hub has not acknowledged is dropped without being
re-read from its source or reported. A damaged database is moved aside (kept
for a person to inspect), rebuilt from the rows that can still be read and the
manifests in `entries/`; rows lost with it only make files be sent again under
the same upload id, which the hub treats as a retry, never a second file.
Start-up runs the quick structural pass; `kozo edge fsck` adds the hash check
of every chunk.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge.chunking import chunk_file_name, verify_chunk
from edge.errors import SourceChanged, SpoolFull
from edge.spool import (ACKNOWLEDGED, CORRUPT, DATABASE, PENDING, QuickCheckFn,
                        Spool, read_manifest, row_to_entry)

log = logging.getLogger("kozo.edge.fsck")


@dataclass
class FsckReport:
    database_recovered: str | None = None  # where the damaged database was moved
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.database_recovered:
            out.append(f"database damaged: rebuilt; the damaged copy is {self.database_recovered}")
        out += [f"problem: {p}" for p in self.problems]
        out += [f"repaired: {r}" for r in self.repaired]
        return out or ["spool is consistent"]


def database_problem(path: Path) -> str | None:
    """None when SQLite's own check passes; otherwise what it found."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            conn.execute("SELECT count(*) FROM files").fetchone()
            conn.execute("SELECT count(*) FROM seen").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        return str(error)
    if rows != [("ok",)]:
        return "; ".join(r[0] for r in rows[:3])
    return None


def _salvage_rows(path: Path, table: str) -> list[dict]:
    """Every row of `table` that can still be read, probing rowid by rowid."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return []
    conn.row_factory = sqlite3.Row
    rows: list[dict] = []
    try:
        try:
            return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]
        except sqlite3.DatabaseError:
            pass
        misses, rowid = 0, 1
        while misses < 2000:
            try:
                row = conn.execute(f"SELECT * FROM {table} WHERE rowid = ?", [rowid]).fetchone()
            except sqlite3.DatabaseError:
                row = None
            if row is None:
                misses += 1
            else:
                misses = 0
                rows.append(dict(row))
            rowid += 1
        return rows
    except sqlite3.DatabaseError:
        return rows
    finally:
        conn.close()


def recover_database(directory: Path) -> str:
    """Move a damaged spool.db aside and rebuild it; returns the damaged copy's name."""
    damaged = directory / f"{DATABASE}.damaged-{time.strftime('%Y%m%dT%H%M%S')}"
    damaged.mkdir()
    for suffix in ("", "-wal", "-shm"):
        part = directory / f"{DATABASE}{suffix}"
        if part.exists():
            os.rename(part, damaged / part.name)
    spool = Spool(directory)
    try:
        for table in ("files", "seen"):
            for row in _salvage_rows(damaged / DATABASE, table):
                try:
                    if table == "files":
                        row_to_entry(row)  # refuse rows whose fields are garbage
                    with spool.db.conn:
                        spool.db[table].insert(row, replace=True)
                except Exception:  # a half-readable row: the manifests cover it
                    continue
    finally:
        spool.close()
    return str(damaged)


def check_structure(spool: Spool, report: FsckReport) -> None:
    """The quick pass: leftovers of interrupted writes, entries without their files."""
    rows = {r["upload_id"]: r["state"] for r in spool.db.query(
        "SELECT upload_id, state FROM files")}
    for directory in sorted(spool.entries.iterdir()):
        name = directory.name
        if name.startswith(".partial-"):
            shutil.rmtree(directory, ignore_errors=True)
            report.repaired.append(f"removed an interrupted write ({name})")
        elif name not in rows or rows[name] == ACKNOWLEDGED:
            if rows.get(name) != ACKNOWLEDGED and _complete(directory):
                spool.adopt(read_manifest(directory), PENDING)
                report.repaired.append(f"re-queued {name} from its manifest")
            else:
                shutil.rmtree(directory, ignore_errors=True)
                if name not in rows:
                    report.repaired.append(f"removed torn entry {name} (never committed)")
    for entry in spool.all_entries():
        if entry.state == CORRUPT:
            continue
        directory = spool.entry_directory(entry.upload_id)
        missing = [i for i, c in enumerate(entry.chunks)
                   if not _has_size(directory / chunk_file_name(i), c.stored_size)]
        if missing:
            spool.mark_problem(entry.upload_id, CORRUPT,
                               f"{len(missing)} chunk file(s) missing or truncated")
            report.problems.append(f"{entry.path}: {len(missing)} chunk file(s) missing "
                                   "or truncated")


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _complete(directory: Path) -> bool:
    """A row-less entry is adopted only when every chunk verifies: it was never synced
    as a batch, so its sizes alone prove nothing after a power cut."""
    try:
        entry = read_manifest(directory)
        return all(verify_chunk((directory / chunk_file_name(i)).read_bytes(), c.sha256,
                                c.size) is None for i, c in enumerate(entry.chunks))
    except (OSError, ValueError, TypeError, KeyError):
        return False


def verify_hashes(spool: Spool, report: FsckReport) -> None:
    """The deep pass: every chunk of every unacknowledged entry against its sha256."""
    for entry in spool.all_entries():
        if entry.state == CORRUPT:
            continue
        for index, chunk in enumerate(entry.chunks):
            try:
                frame = spool.chunk_frame(entry.upload_id, index)
                problem = verify_chunk(frame, chunk.sha256, chunk.size)
            except OSError as error:
                problem = f"unreadable ({error.strerror})"
            if problem:
                spool.mark_problem(entry.upload_id, CORRUPT, f"chunk {index}: {problem}")
                report.problems.append(f"{entry.path}: chunk {index}: {problem}")
                break


def repair_corrupt(spool: Spool, report: FsckReport, check: QuickCheckFn | None = None) -> None:
    """Re-read each corrupt entry from its source when it still holds the same content."""
    for entry in spool.all_entries((CORRUPT,)):
        source = Path(entry.source)
        if not source.is_file():
            report.problems.append(f"{entry.path}: corrupt and its source {source} is gone; "
                                   "kept as 'corrupt' for a person to decide")
            continue
        spool.forget(entry.upload_id)
        try:
            fresh = spool.ingest(source, entry.path, check=check, metadata=entry.metadata)
        except (SourceChanged, SpoolFull, OSError) as error:
            report.problems.append(f"{entry.path}: re-reading the source failed ({error}); "
                                   "the watcher will read it again")
            continue
        if fresh is not None and fresh.sha256 != entry.sha256:
            report.problems.append(f"{entry.path}: the source changed since it was spooled; "
                                   "the new content is queued, the old version is lost")
        else:
            report.repaired.append(f"{entry.path}: re-read from {source}")


def open_spool(directory: Path, *, cap_bytes: int = 8_000_000_000, zstd_level: int = 3,
               report: FsckReport | None = None) -> Spool:
    """Open the spool for the daemon: recover a damaged database, then the quick pass.

    Never refuses to start because of one bad entry: such entries are set aside
    as 'corrupt' and the rest are served.
    """
    report = report if report is not None else FsckReport()
    directory.mkdir(parents=True, exist_ok=True)
    problem = database_problem(directory / DATABASE)
    if problem:
        log.error("spool database %s is damaged (%s); rebuilding it", directory / DATABASE,
                  problem)
        report.database_recovered = recover_database(directory)
    spool = Spool(directory, cap_bytes=cap_bytes, zstd_level=zstd_level)
    check_structure(spool, report)
    for line in report.lines():
        if line != "spool is consistent":
            log.warning("spool: %s", line)
    return spool


def fsck(directory: Path, *, check: QuickCheckFn | None = None) -> FsckReport:
    """The full check for `kozo edge fsck`."""
    report = FsckReport()
    spool = open_spool(directory, report=report)
    try:
        verify_hashes(spool, report)
        repair_corrupt(spool, report, check)
    finally:
        spool.close()
    return report
