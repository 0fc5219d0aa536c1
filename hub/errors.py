"""The hub's domain errors, each carrying the HTTP status and code of the protocol.

The same classes serve the CLI (printed as one line, exit 2) and the API, where a
middleware turns them into `{"error": {"code": ..., "message": ...}}` with `status`.
"""

from __future__ import annotations

from typing import Any

from kozo.errors import KozoError


class HubError(KozoError):
    """A refused request or command; `status` and `code` follow docs/ingest-protocol.md."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.extra = extra or {}  # more top-level keys for the JSON answer


class BadRequest(HubError):
    status, code = 400, "bad_request"


class Unauthorized(HubError):
    status, code = 401, "unauthorized"


class Forbidden(HubError):
    status, code = 403, "forbidden"


class NotFound(HubError):
    status, code = 404, "not_found"


class Conflict(HubError):
    status, code = 409, "conflict"


class TooLarge(HubError):
    status, code = 413, "too_large"


class RangeNotSatisfiable(HubError):
    status, code = 416, "range_not_satisfiable"


class UnsupportedMediaType(HubError):
    status, code = 415, "unsupported_media_type"


class HashMismatch(HubError):
    status, code = 422, "hash_mismatch"


class Unprocessable(HubError):
    status, code = 422, "unprocessable"


class StorageFull(HubError):
    status, code = 507, "storage_full"


class BadGateway(HubError):
    """A user's notebook server failed to start or to answer (the hub is its gateway)."""

    status, code = 502, "bad_gateway"


class GatewayTimeout(HubError):
    status, code = 504, "gateway_timeout"
