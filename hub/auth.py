"""Who is asking: bearer tokens, session cookies and passwords.

Secrets never rest in the database: a token is stored as the sha256 of its
256-bit random secret, a password as an scrypt hash with its own salt. A token
has one scope: `device` (upload for its own instrument, read the current model),
`user` (read data of the user's projects) or `admin` (everything). Tokens expire
and can be revoked; a revoked or expired token is refused like an unknown one.
Every revocation also changes the shared marker of hub/token_epoch.py, which
tells running hubs to forget the tokens they remember (hub/token_cache.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlite_utils

from hub.database import new_id, now
from hub.errors import Forbidden, NotFound, Unauthorized
from hub.token_epoch import bump_token_epoch

SCOPES = ("device", "user", "admin")
TOKEN_PREFIX = {"device": "kozo_dev_", "user": "kozo_usr_", "admin": "kozo_adm_",
                "session": "kozo_ses_"}
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    scope: str  # device, user or admin
    token_id: str
    user_id: str | None = None
    device_id: str | None = None
    instrument_id: str | None = None  # a device's own instrument
    name: str = ""
    expires: float | None = None  # epoch seconds; None: never

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return self.user_id or self.device_id or self.token_id

    def require(self, *scopes: str) -> "Principal":
        if self.scope not in scopes:
            raise Forbidden(f"this needs a {' or '.join(scopes)} token; yours has scope "
                            f"{self.scope}", code="insufficient_scope")
        return self


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return kind == "scrypt" and hmac.compare_digest(actual, expected)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(db: sqlite_utils.Database, scope: str, *, user_id: str | None = None,
                device_id: str | None = None, days: float = 0.0,
                kind: str = "api") -> tuple[str, str]:
    """A new token: (id, secret). The secret is shown once and stored only hashed."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}; got {scope!r}")
    secret = TOKEN_PREFIX["session" if kind == "session" else scope] + secrets.token_urlsafe(32)
    token_id = new_id("tok")
    created = now()
    db["tokens"].insert({"id": token_id, "secret_sha256": secret_hash(secret), "scope": scope,
                         "kind": kind, "user_id": user_id, "device_id": device_id,
                         "created": created, "expires": created + days * 86400 if days else None,
                         "revoked": None})
    return token_id, secret


def authenticate(db: sqlite_utils.Database, secret: str, *, kind: str = "api") -> Principal:
    """The principal behind a secret; Unauthorized if unknown, expired or revoked."""
    rows = list(db.query(
        "SELECT t.*, d.instrument_id, coalesce(u.name, d.name) AS name FROM tokens t "
        "LEFT JOIN users u ON u.id = t.user_id LEFT JOIN devices d ON d.id = t.device_id "
        "WHERE t.secret_sha256 = ? AND t.kind = ?", [secret_hash(secret), kind]))
    if not rows:
        raise Unauthorized("unknown token", code="invalid_token")
    row = rows[0]
    if row["revoked"] is not None:
        raise Unauthorized("this token was revoked", code="invalid_token")
    if row["expires"] is not None and row["expires"] <= now():
        raise Unauthorized("this token has expired", code="invalid_token")
    return Principal(scope=row["scope"], token_id=row["id"], user_id=row["user_id"],
                     device_id=row["device_id"], instrument_id=row["instrument_id"],
                     name=row["name"] or "", expires=row["expires"])


def revoke_token(db: sqlite_utils.Database, token_id_or_secret: str) -> str:
    """Revoke one token, named by its id (tok_…) or by its secret; returns the id."""
    rows = list(db.query("SELECT id FROM tokens WHERE id = ? OR secret_sha256 = ?",
                         [token_id_or_secret, secret_hash(token_id_or_secret)]))
    if not rows:
        raise NotFound("no such token (give its id, tok_…, or the token itself)")
    with db.atomic():
        db.execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                   [now(), rows[0]["id"]])
    bump_token_epoch(db)
    return rows[0]["id"]


def revoke_tokens_of(db: sqlite_utils.Database, *, user_id: str | None = None,
                     device_id: str | None = None) -> int:
    """Revoke every live token of a user or a device; returns how many."""
    column, value = ("user_id", user_id) if user_id else ("device_id", device_id)
    with db.atomic():
        cursor = db.execute(f"UPDATE tokens SET revoked = ? WHERE {column} = ? "
                            "AND revoked IS NULL", [now(), value])
    bump_token_epoch(db)
    return cursor.rowcount


def delete_ended_sessions(db: sqlite_utils.Database, older_than_days: float) -> int:
    """Delete web-page sessions that expired or were logged out more than `older_than_days`
    ago (every login adds one; bearer tokens are kept as the record of who had access).
    Returns how many."""
    cutoff = now() - older_than_days * 86400
    with db.atomic():
        cursor = db.execute("DELETE FROM tokens WHERE kind = 'session' AND "
                            "(expires < ? OR revoked < ?)", [cutoff, cutoff])
    return cursor.rowcount
