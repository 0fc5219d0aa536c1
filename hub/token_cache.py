"""Authenticated tokens remembered between requests, dropped on any revocation.

Why: under the seed deployment's load every request's token lookup was a
database round trip on the event loop (about a sixth of its busy time), and
each one released and re-awaited the interpreter lock while fifty uploads kept
the worker threads busy, so list calls queued behind them. A remembered
token is trusted only while it has not expired and while the revocation
marker (hub/token_epoch.py) is unchanged: a revocation anywhere empties the
cache before the next lookup, so a revoked token fails on the next request,
as it did without the cache. Unknown tokens are never remembered.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from hub.auth import Principal, authenticate, secret_hash
from hub.database import now
from hub.token_epoch import TokenEpoch

MAX_REMEMBERED = 10_000  # distinct live tokens; beyond that the cache starts afresh


class TokenCache:
    def __init__(self, database_path: Path) -> None:
        self.epoch = TokenEpoch(database_path)
        self.seen_epoch = self.epoch.current()
        self.remembered: dict[tuple[str, str], Principal] = {}

    def authenticate(self, db: sqlite_utils.Database, secret: str, *,
                     kind: str = "api") -> Principal:
        """As hub.auth.authenticate, from memory when the token is known and still valid."""
        epoch = self.epoch.current()
        if epoch != self.seen_epoch:
            self.remembered.clear()
            self.seen_epoch = epoch
        key = (secret_hash(secret), kind)
        principal = self.remembered.get(key)
        if principal is not None and (principal.expires is None or principal.expires > now()):
            return principal
        principal = authenticate(db, secret, kind=kind)
        if len(self.remembered) >= MAX_REMEMBERED:
            self.remembered.clear()
        self.remembered[key] = principal
        return principal

    def close(self) -> None:
        self.epoch.close()
