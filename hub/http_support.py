"""The request plumbing every handler shares: JSON errors and who is calling.

Errors follow docs/ingest-protocol.md: `{"error": {"code", "message"}}` with the
status of the HubError; anything unexpected is a 500 whose message says nothing
about the inside. Programs authenticate with `Authorization: Bearer TOKEN`; the
web page's session cookie counts only for GET and HEAD, so a page on another
site cannot make a logged-in browser change anything.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from hub.auth import Principal
from hub.errors import HubError, Unauthorized
from hub.state import DATABASE, TOKENS

SESSION_COOKIE = "kozo_session"
PRINCIPAL_KEY = web.RequestKey("principal", Principal)  # set once the caller is known
log = logging.getLogger("kozo.hub")


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}, **extra},
                             status=status)


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    try:
        return await handler(request)
    except HubError as error:
        return error_response(error.status, error.code, str(error), **error.extra)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.lower().replace(" ", "_")
        return error_response(error.status, code, error.reason)
    except Exception:
        log.exception("unexpected error", extra={"route": _route(request)})
        return error_response(500, "internal_error", "the hub failed; the error is logged")


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def caller(request: web.Request) -> Principal:
    """The authenticated principal of this request; 401 without a valid credential."""
    known = request.get(PRINCIPAL_KEY)
    if known is not None:
        return known
    db, tokens = request.app[DATABASE], request.app[TOKENS]
    header = request.headers.get("Authorization", "")
    if header:
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise Unauthorized("use Authorization: Bearer TOKEN", code="invalid_token")
        principal = tokens.authenticate(db, secret.strip())
    elif SESSION_COOKIE in request.cookies and request.method in ("GET", "HEAD"):
        principal = tokens.authenticate(db, request.cookies[SESSION_COOKIE], kind="session")
    else:
        raise Unauthorized("this needs a token: Authorization: Bearer TOKEN",
                           code="missing_token")
    request[PRINCIPAL_KEY] = principal
    return principal
