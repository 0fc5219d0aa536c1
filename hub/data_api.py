"""The people's half of the API: list, search, read, download and delete files.

Users see the files of their projects; admins see all; device tokens see none.
A file another project owns answers 404, exactly like a file that does not exist.
"""

from __future__ import annotations

import math

from aiohttp import web

from hub import accounts, catalog
from hub.errors import BadRequest
from hub.file_download import send_file
from hub.http_support import caller
from hub.state import CHUNKS, CONFIG, DATABASE, FILE_WRITER

MAX_PAGE = 1000


def _number(request: web.Request, name: str, kind: type = float) -> float | int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a {kind.__name__}; got {raw[:40]!r}",
                         code="malformed_query") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be finite; got {raw[:40]!r}", code="malformed_query")
    return value


def file_query(request: web.Request) -> catalog.FileQuery:
    limit = _number(request, "limit", int)
    offset = _number(request, "offset", int)
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be 1 to {MAX_PAGE}; got {limit}", code="malformed_query")
    if offset is not None and offset < 0:
        raise BadRequest(f"offset must be at least 0; got {offset}", code="malformed_query")
    query = request.query
    return catalog.FileQuery(
        instrument=query.get("instrument"), project=query.get("project"),
        since=_number(request, "since"), until=_number(request, "until"),
        name=query.get("name"), property=query.get("property"),
        min=_number(request, "min"), max=_number(request, "max"),
        limit=limit or 100, offset=offset or 0)


async def list_files(request: web.Request) -> web.Response:
    principal = caller(request)
    query = file_query(request)
    files = catalog.search_files(request.app[DATABASE], principal, query)
    more = len(files) == query.limit
    return web.json_response({"files": files,
                              "next_offset": query.offset + len(files) if more else None})


async def file_details(request: web.Request) -> web.Response:
    db = request.app[DATABASE]
    row = catalog.visible_file(db, caller(request), request.match_info["file_id"])
    return web.json_response(catalog.details(db, row))


async def file_predictions(request: web.Request) -> web.Response:
    db = request.app[DATABASE]
    row = catalog.visible_file(db, caller(request), request.match_info["file_id"])
    summary = catalog.summary(row)
    return web.json_response({"file": row["id"], "predictions": summary["predictions"],
                              "check_error": summary["check_error"]})


async def download(request: web.Request) -> web.StreamResponse:
    db = request.app[DATABASE]
    row = catalog.visible_file(db, caller(request), request.match_info["file_id"])
    return await send_file(request, request.app[CHUNKS].open, catalog.chunks_of(db, row["id"]),
                           row["size"], row["sha256"], row["name"],
                           request.app[CONFIG].max_chunk_bytes)


async def delete_file(request: web.Request) -> web.Response:
    principal = caller(request).require("admin")
    db = request.app[DATABASE]
    row = catalog.visible_file(db, principal, request.match_info["file_id"])
    unused = await request.app[FILE_WRITER].delete(principal, row)
    return web.json_response({"file": row["id"], "deleted": True, "chunks_freed": len(unused)})


async def whoami(request: web.Request) -> web.Response:
    principal = caller(request)
    projects = (accounts.projects_of(request.app[DATABASE], principal.user_id)
                if principal.user_id else [])
    return web.json_response({"scope": principal.scope, "name": principal.name,
                              "projects": projects})
