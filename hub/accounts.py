"""The facility's people and things: users, projects, instruments, devices, enrolment.

These are the admin's operations (the CLI calls them) and enrolment (the API
calls it). Each check names the value that failed, so a typo is easy to spot.
"""

from __future__ import annotations

import re
import secrets
from typing import Sequence

import sqlite_utils

from hub.auth import hash_password, issue_token, secret_hash
from hub.database import new_id, now, record_audit
from hub.errors import BadRequest, Conflict, Forbidden, NotFound

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise BadRequest(f"{kind} name must be 1-64 letters, digits, '.', '_', '@' or '-', "
                         f"starting with a letter or digit; got {str(name)[:80]!r}")
    return name


def _id_by_name(db: sqlite_utils.Database, table: str, kind: str, name: str) -> str:
    rows = list(db.query(f"SELECT id FROM {table} WHERE name = ?", [name]))
    if not rows:
        raise NotFound(f"no {kind} named {name!r}", code=f"unknown_{kind}")
    return rows[0]["id"]


def user_id(db: sqlite_utils.Database, name: str) -> str:
    return _id_by_name(db, "users", "user", name)


def project_id(db: sqlite_utils.Database, name: str) -> str:
    return _id_by_name(db, "projects", "project", name)


def instrument_id(db: sqlite_utils.Database, name: str) -> str:
    return _id_by_name(db, "instruments", "instrument", name)


def _refuse_duplicate(db: sqlite_utils.Database, table: str, kind: str, name: str) -> None:
    if list(db.query(f"SELECT 1 FROM {table} WHERE name = ?", [name])):
        raise Conflict(f"a {kind} named {name!r} exists already", code=f"{kind}_exists")


def add_user(db: sqlite_utils.Database, name: str, *, admin: bool = False,
             password: str | None = None) -> str:
    check_name("user", name)
    _refuse_duplicate(db, "users", "user", name)
    if password is not None and len(password) < 8:
        raise BadRequest("a password needs at least 8 characters")
    new = new_id("usr")
    with db.atomic():
        db["users"].insert({"id": new, "name": name, "is_admin": int(admin), "created": now(),
                            "password_hash": hash_password(password) if password else None})
        record_audit(db, "cli", "user.add", new, name=name, admin=admin)
    return new


def add_project(db: sqlite_utils.Database, name: str, members: Sequence[str] = ()) -> str:
    check_name("project", name)
    _refuse_duplicate(db, "projects", "project", name)
    member_ids = [user_id(db, member) for member in members]
    new = new_id("prj")
    with db.atomic():
        db["projects"].insert({"id": new, "name": name, "created": now()})
        db["project_members"].insert_all([{"project_id": new, "user_id": m}
                                          for m in dict.fromkeys(member_ids)])
        record_audit(db, "cli", "project.add", new, name=name, members=list(members))
    return new


def add_instrument(db: sqlite_utils.Database, name: str, projects: Sequence[str] = (),
                   facility: str | None = None) -> str:
    """An instrument; its files will belong to `projects` (its bookings)."""
    check_name("instrument", name)
    _refuse_duplicate(db, "instruments", "instrument", name)
    project_ids = [project_id(db, project) for project in projects]
    new = new_id("ins")
    with db.atomic():
        facility_id = None
        if facility is not None:
            check_name("facility", facility)
            found = list(db.query("SELECT id FROM facilities WHERE name = ?", [facility]))
            facility_id = found[0]["id"] if found else new_id("fac")
            if not found:
                db["facilities"].insert({"id": facility_id, "name": facility, "created": now()})
        db["instruments"].insert({"id": new, "name": name, "facility_id": facility_id,
                                  "created": now()})
        db["bookings"].insert_all([{"instrument_id": new, "project_id": p}
                                   for p in dict.fromkeys(project_ids)])
        record_audit(db, "cli", "instrument.add", new, name=name, projects=list(projects))
    return new


def new_enrolment_code(db: sqlite_utils.Database, instrument: str,
                       hours: float) -> tuple[str, float]:
    """A one-time code for enrolling one device of `instrument`: (code, expiry time)."""
    target = instrument_id(db, instrument)
    groups = ["".join(secrets.choice(CODE_ALPHABET) for _ in range(5)) for _ in range(4)]
    code = "-".join(groups)  # 100 bits: enough for a code that lives hours and works once
    created = now()
    expires = created + hours * 3600
    with db.atomic():
        db["enrolment_codes"].insert({"code_sha256": secret_hash(code), "instrument_id": target,
                                      "created": created, "expires": expires, "used": None,
                                      "device_id": None})
        record_audit(db, "cli", "enrolment_code.add", target, expires=expires)
    return code, expires


def enroll_device(db: sqlite_utils.Database, code: str, device_name: str,
                  token_days: float) -> dict[str, str]:
    """Spend a one-time code: a new device of the code's instrument and its token."""
    check_name("device", device_name)
    rows = list(db.query(
        "SELECT c.*, i.name AS instrument FROM enrolment_codes c "
        "JOIN instruments i ON i.id = c.instrument_id WHERE c.code_sha256 = ?",
        [secret_hash(code.strip().upper())]))
    if not rows:
        raise Forbidden("unknown enrolment code", code="code_invalid")
    row = rows[0]
    if row["used"] is not None:
        raise Forbidden("this enrolment code was used already", code="code_used")
    if row["expires"] <= now():
        raise Forbidden("this enrolment code has expired", code="code_expired")
    device = new_id("dev")
    with db.atomic():
        spent = db.execute("UPDATE enrolment_codes SET used = ?, device_id = ? "
                           "WHERE code_sha256 = ? AND used IS NULL",
                           [now(), device, row["code_sha256"]])
        if spent.rowcount != 1:
            raise Forbidden("this enrolment code was used already", code="code_used")
        db["devices"].insert({"id": device, "name": device_name,
                              "instrument_id": row["instrument_id"], "created": now()})
        _, token = issue_token(db, "device", device_id=device, days=token_days)
        record_audit(db, device, "device.enroll", device, name=device_name,
                     instrument=row["instrument"])
    return {"device": device, "instrument": row["instrument"], "token": token}


def projects_of(db: sqlite_utils.Database, user: str) -> list[str]:
    return [r["name"] for r in db.query(
        "SELECT p.name FROM projects p JOIN project_members m ON m.project_id = p.id "
        "WHERE m.user_id = ? ORDER BY p.name", [user])]
