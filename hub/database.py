"""The hub's metadata in one SQLite file (WAL mode), through sqlite-utils.

Tables: users, projects and their members, facilities, instruments, bookings
(which projects own an instrument's files), devices, tokens, enrolment codes,
files with their chunk lists and predictions, models, settings and the audit log.
Guarantee: each write the API acknowledges is committed (WAL, synchronous=FULL).
Only this module knows the schema's DDL; the rest use sqlite-utils' table calls.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlite_utils

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, is_admin INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS project_members (
    project_id TEXT NOT NULL REFERENCES projects(id), user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (project_id, user_id));
CREATE TABLE IF NOT EXISTS facilities (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS instruments (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, facility_id TEXT REFERENCES facilities(id),
    created REAL NOT NULL);
-- An instrument's files belong to every project booked on it (no time windows yet).
CREATE TABLE IF NOT EXISTS bookings (
    instrument_id TEXT NOT NULL REFERENCES instruments(id),
    project_id TEXT NOT NULL REFERENCES projects(id),
    PRIMARY KEY (instrument_id, project_id));
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, instrument_id TEXT NOT NULL REFERENCES instruments(id),
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL UNIQUE, scope TEXT NOT NULL,
    kind TEXT NOT NULL, user_id TEXT REFERENCES users(id), device_id TEXT REFERENCES devices(id),
    created REAL NOT NULL, expires REAL, revoked REAL);
CREATE TABLE IF NOT EXISTS enrolment_codes (
    code_sha256 TEXT PRIMARY KEY, instrument_id TEXT NOT NULL REFERENCES instruments(id),
    created REAL NOT NULL, expires REAL NOT NULL, used REAL, device_id TEXT);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, instrument_id TEXT NOT NULL REFERENCES instruments(id),
    device_id TEXT NOT NULL REFERENCES devices(id), upload_id TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL,
    modified REAL, committed REAL NOT NULL, metadata TEXT NOT NULL, predictions TEXT,
    check_error TEXT, deleted REAL,
    UNIQUE (device_id, upload_id));
CREATE INDEX IF NOT EXISTS files_by_instrument ON files (instrument_id, modified);
-- Listings are newest first by this very expression (hub/catalog.py search_files).
CREATE INDEX IF NOT EXISTS files_by_time ON files (coalesce(modified, committed) DESC, id);
CREATE TABLE IF NOT EXISTS file_chunks (
    file_id TEXT NOT NULL REFERENCES files(id), position INTEGER NOT NULL,
    chunk_sha256 TEXT NOT NULL, size INTEGER NOT NULL, offset INTEGER NOT NULL,
    PRIMARY KEY (file_id, position));
CREATE INDEX IF NOT EXISTS file_chunks_by_chunk ON file_chunks (chunk_sha256);
CREATE TABLE IF NOT EXISTS predictions (
    file_id TEXT NOT NULL REFERENCES files(id), property TEXT NOT NULL, value REAL NOT NULL,
    unit TEXT, PRIMARY KEY (file_id, property));
CREATE INDEX IF NOT EXISTS predictions_by_value ON predictions (property, value);
CREATE TABLE IF NOT EXISTS models (
    name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    metadata TEXT NOT NULL, uploaded REAL NOT NULL, uploaded_by TEXT,
    PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
"""


def open_database(path: Path) -> sqlite_utils.Database:
    """The hub database at `path`, created on first use, in WAL mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit at the driver: a lone write commits at once, and db.atomic() groups writes.
    # The app opens it in one thread and serves from its event loop's thread, one at a time.
    connection = sqlite3.connect(str(path), timeout=30.0, isolation_level=None,
                                 check_same_thread=False)
    db = sqlite_utils.Database(connection)
    db.enable_wal()
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.executescript(f"BEGIN;\n{SCHEMA}\nCOMMIT;")
    return db


def new_id(prefix: str) -> str:
    """An opaque id such as `file_3f9c…`: unguessable, so ids leak nothing about counts."""
    return f"{prefix}_{secrets.token_hex(10)}"


def now() -> float:
    return time.time()


def record_audit(db: sqlite_utils.Database, actor: str, action: str, target: str,
                 **detail: Any) -> None:
    """One audit row; the caller's transaction makes it commit with the change it records."""
    db["audit"].insert({"at": now(), "actor": actor, "action": action, "target": target,
                        "detail": json.dumps(detail, sort_keys=True)})
