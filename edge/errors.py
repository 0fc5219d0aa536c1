"""The edge daemon's domain errors: each one is a failure a person can act on."""

from __future__ import annotations

from kozo.errors import KozoError


class ConfigError(KozoError):
    """An edge.toml that is missing, not TOML, or holds a wrong value."""


class SpoolFull(KozoError):
    """The spool reached its disk cap; new files wait at the source until the hub acknowledges."""


class SourceChanged(KozoError):
    """The source file changed, moved or vanished while it was read; it is read again later."""


class SpoolCorrupt(KozoError):
    """A spooled entry whose chunk data is missing or does not match its hashes."""


class HubUnavailable(KozoError):
    """The hub cannot be reached or answered 5xx/507; the same request is retried later."""


class HubRejected(KozoError):
    """The hub refused a request for a reason a retry will not fix (4xx)."""

    def __init__(self, status: int, code: str, message: str, body: dict | None = None) -> None:
        super().__init__(f"hub refused the request: {status} {code}: {message}")
        self.status = status
        self.code = code
        self.body = body or {}  # the whole answer, e.g. {"missing": [...]} with a 409


class CredentialError(KozoError):
    """No usable device credential: run `kozo edge enroll` first."""
