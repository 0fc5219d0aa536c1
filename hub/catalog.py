"""The catalogue of committed files: add, find, search, delete, and who may see what.

A file belongs to its instrument; a user sees it when one of the user's projects
is booked on that instrument; an admin sees everything. Guarantee: a committed
file's row, its chunk list and its predictions are written in one transaction,
and a deleted file disappears from every listing at once (its row stays, marked
deleted, so a retried commit of the same upload never brings it back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

import sqlite_utils

from hub.auth import Principal
from hub.chunk_check import ChunkRef
from hub.database import new_id, now, record_audit
from hub.errors import BadRequest, Forbidden, NotFound
from hub.ingest_messages import Commit, file_name

VISIBLE_INSTRUMENTS = ("SELECT b.instrument_id FROM bookings b JOIN project_members m "
                       "ON m.project_id = b.project_id WHERE m.user_id = ?")


def file_by_upload(db: sqlite_utils.Database, device_id: str, upload_id: str) -> dict | None:
    rows = list(db.query("SELECT id, sha256, size FROM files WHERE device_id = ? "
                         "AND upload_id = ?", [device_id, upload_id]))
    return rows[0] if rows else None


def add_file(db: sqlite_utils.Database, device: Principal, commit: Commit) -> str:
    """Record a committed file (its chunks must be stored); returns its id."""
    file_id = new_id("file")
    predictions = commit.predictions
    with db.atomic():
        db["files"].insert({
            "id": file_id, "instrument_id": device.instrument_id, "device_id": device.device_id,
            "upload_id": commit.upload_id, "sha256": commit.offer.sha256,
            "size": commit.offer.size, "path": commit.path, "name": file_name(commit.path),
            "modified": commit.modified, "committed": now(),
            "metadata": json.dumps(commit.metadata),
            "predictions": json.dumps(predictions) if predictions is not None else None,
            "check_error": commit.check_error, "deleted": None})
        offset, rows = 0, []
        for position, chunk in enumerate(commit.offer.chunks):
            rows.append({"file_id": file_id, "position": position, "chunk_sha256": chunk.sha256,
                         "size": chunk.size, "offset": offset})
            offset += chunk.size
        db["file_chunks"].insert_all(rows)
        if predictions is not None:
            db["predictions"].insert_all(
                [{"file_id": file_id, "property": name, "value": float(entry["value"]),
                  "unit": entry.get("unit")} for name, entry in predictions["values"].items()])
    return file_id


@dataclass(frozen=True)
class FileQuery:
    instrument: str | None = None
    project: str | None = None
    since: float | None = None  # seconds since the epoch, file modification time
    until: float | None = None
    name: str | None = None  # a part of the file name, any case
    property: str | None = None  # a predicted property; with min and/or max
    min: float | None = None
    max: float | None = None
    limit: int = 100
    offset: int = 0


def search_files(db: sqlite_utils.Database, caller: Principal, query: FileQuery) -> list[dict]:
    """The files `caller` may see that match `query`, newest first."""
    where, params = ["f.deleted IS NULL"], []
    _restrict_to_visible(caller, where, params)
    if query.instrument is not None:
        where.append("i.name = ?")
        params.append(query.instrument)
    if query.project is not None:
        where.append("f.instrument_id IN (SELECT b.instrument_id FROM bookings b "
                     "JOIN projects p ON p.id = b.project_id WHERE p.name = ?)")
        params.append(query.project)
    if query.since is not None:
        where.append("coalesce(f.modified, f.committed) >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("coalesce(f.modified, f.committed) < ?")
        params.append(query.until)
    if query.name:
        escaped = query.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("f.name LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    if query.property is not None:
        condition = ["p.file_id = f.id", "p.property = ?"]
        params.append(query.property)
        for bound, operator in ((query.min, ">="), (query.max, "<=")):
            if bound is not None:
                condition.append(f"p.value {operator} ?")
                params.append(bound)
        where.append(f"EXISTS (SELECT 1 FROM predictions p WHERE {' AND '.join(condition)})")
    elif query.min is not None or query.max is not None:
        raise BadRequest("min and max need property=NAME", code="malformed_query")
    sql = (f"SELECT f.*, i.name AS instrument FROM files f JOIN instruments i "
           f"ON i.id = f.instrument_id WHERE {' AND '.join(where)} "
           f"ORDER BY coalesce(f.modified, f.committed) DESC, f.id LIMIT ? OFFSET ?")
    return [summary(row) for row in db.query(sql, params + [query.limit, query.offset])]


def _restrict_to_visible(caller: Principal, where: list[str], params: list) -> None:
    if caller.scope == "admin":
        return
    if caller.scope != "user":
        raise Forbidden("a device token cannot read files", code="insufficient_scope")
    # The unary + keeps SQLite from answering this through files_by_instrument and then
    # sorting every visible file: walking files_by_time newest first and skipping what the
    # caller may not see stops after `limit` rows (bench/hub_list.py).
    where.append(f"+f.instrument_id IN ({VISIBLE_INSTRUMENTS})")
    params.append(caller.user_id)


def visible_file(db: sqlite_utils.Database, caller: Principal, file_id: str) -> dict:
    """The file's row if `caller` may see it; 404 otherwise (existence is not revealed)."""
    where, params = ["f.deleted IS NULL", "f.id = ?"], [file_id]
    _restrict_to_visible(caller, where, params)
    rows = list(db.query(f"SELECT f.*, i.name AS instrument FROM files f JOIN instruments i "
                         f"ON i.id = f.instrument_id WHERE {' AND '.join(where)}", params))
    if not rows:
        raise NotFound(f"no file {file_id[:64]!r}", code="unknown_file")
    return rows[0]


def summary(row: dict) -> dict[str, Any]:
    """What a listing shows of one file."""
    return {"id": row["id"], "instrument": row["instrument"], "path": row["path"],
            "name": row["name"], "size": row["size"], "sha256": row["sha256"],
            "modified": row["modified"], "committed": row["committed"],
            "predictions": json.loads(row["predictions"]) if row["predictions"] else None,
            "check_error": row["check_error"]}


def details(db: sqlite_utils.Database, row: dict) -> dict[str, Any]:
    """Everything about one file: its summary, metadata, projects and chunk count."""
    projects = [r["name"] for r in db.query(
        "SELECT p.name FROM bookings b JOIN projects p ON p.id = b.project_id "
        "WHERE b.instrument_id = ? ORDER BY p.name", [row["instrument_id"]])]
    chunks = db.execute("SELECT count(*) FROM file_chunks WHERE file_id = ?",
                        [row["id"]]).fetchone()[0]
    return {**summary(row), "metadata": json.loads(row["metadata"]), "projects": projects,
            "device": row["device_id"], "upload_id": row["upload_id"], "chunks": chunks}


def chunks_of(db: sqlite_utils.Database, file_id: str) -> list[tuple[ChunkRef, int]]:
    """(chunk, offset in the file) in order."""
    return [(ChunkRef(r["chunk_sha256"], r["size"]), r["offset"]) for r in db.query(
        "SELECT chunk_sha256, size, offset FROM file_chunks WHERE file_id = ? "
        "ORDER BY position", [file_id])]


def delete_file(db: sqlite_utils.Database, caller: Principal, row: dict) -> list[str]:
    """Mark the file deleted with an audit row; returns the chunks no live file uses now."""
    with db.atomic():
        db.execute("UPDATE files SET deleted = ? WHERE id = ?", [now(), row["id"]])
        record_audit(db, caller.actor, "file.delete", row["id"], path=row["path"],
                     sha256=row["sha256"], instrument=row["instrument"], size=row["size"])
    return unused_chunks(db, {c.sha256 for c, _ in chunks_of(db, row["id"])})


def unused_chunks(db: sqlite_utils.Database, candidates: Iterable[str]) -> list[str]:
    return [sha for sha in sorted(candidates) if not list(db.query(
        "SELECT 1 FROM file_chunks c JOIN files f ON f.id = c.file_id "
        "WHERE c.chunk_sha256 = ? AND f.deleted IS NULL LIMIT 1", [sha]))]
