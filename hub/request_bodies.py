"""Reading request bodies within limits: JSON objects, and streams to disk.

A body is never held whole in memory unless it is a small JSON document; an
upload goes to a temporary file in pieces, and whoever asked for the file
removes it, whatever happens (a truncated body raises, and `finally` cleans).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.errors import BadRequest, TooLarge, UnsupportedMediaType

PIECE = 64 * 1024
WRITE_BATCH = 1024 * 1024


def refuse_declared_size(request: web.Request, limit: int, what: str) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"{what} may be at most {limit} bytes; this one declares "
                       f"{request.content_length}", code="body_too_large")


async def read_json_object(request: web.Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 415 unless application/json, 413 beyond `limit` bytes."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(f"send application/json; got {request.content_type!r}")
    refuse_declared_size(request, limit, "a JSON body")
    pieces, total = [], 0
    async for piece in request.content.iter_chunked(PIECE):
        total += len(piece)
        if total > limit:
            raise TooLarge(f"a JSON body may be at most {limit} bytes", code="body_too_large")
        pieces.append(piece)
    try:
        body = json.loads(b"".join(pieces))
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not JSON ({error})", code="malformed_json") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object; got {type(body).__name__}",
                         code="malformed_json")
    return body


async def save_body(request: web.Request, target: Path, limit: int, what: str) -> int:
    """Stream the body into `target` (created), at most `limit` bytes; returns its size.

    The pieces are written WRITE_BATCH bytes at a time from a worker thread: under heavy
    ingest the kernel throttles writers of dirty pages, and a write() on the event loop
    then stalled every request (lists included) for 50-250 ms at a time."""
    refuse_declared_size(request, limit, what)
    total, written, pending = 0, 0, []
    handle = await asyncio.to_thread(open, target, "wb")
    try:
        async for piece in request.content.iter_any():  # as received: no re-cutting
            total += len(piece)
            if total > limit:
                raise TooLarge(f"{what} may be at most {limit} bytes", code="body_too_large")
            pending.append(piece)
            if total - written >= WRITE_BATCH:
                await asyncio.to_thread(handle.writelines, pending)
                written, pending = total, []
        await asyncio.to_thread(handle.writelines, pending)
    finally:
        await asyncio.to_thread(handle.close)
    return total
