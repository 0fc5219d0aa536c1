"""Send a stored file's original bytes, whole or one byte range, decompressing as it goes.

Only the chunks that overlap the range are read, so a Range request near the end
of a large file costs one or two chunks. Memory stays at one piece per request.
"""

from __future__ import annotations

import asyncio
import re
from typing import BinaryIO, Callable
from urllib.parse import quote

from aiohttp import web

from hub.chunk_check import ChunkRef, decompressed_pieces
from hub.errors import RangeNotSatisfiable

DOWNLOAD_PIECE = 1024 * 1024  # bytes decompressed per trip to a worker thread

RANGE_PATTERN = re.compile(r"bytes=(\d*)-(\d*)")


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single `Range: bytes=…`; None for the whole file.

    A header we do not serve as a range (several ranges, other units) means the
    whole file, as RFC 9110 allows; a range wholly past the end is 416.
    """
    if not header:
        return None
    match = RANGE_PATTERN.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable(f"an empty suffix range of a {size}-byte file",
                                      extra={"size": size})
        return max(size - length, 0), size
    start = int(first)
    if last != "" and int(last) < start:
        return None  # not a valid range: RFC 9110 says to ignore it
    end = size if last == "" else min(int(last) + 1, size)
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"bytes {start}-{last} are outside this {size}-byte file",
                                  extra={"size": size})
    return start, end


def download_name_headers(name: str) -> str:
    """A Content-Disposition that no file name can break (quotes, newlines, non-ASCII)."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_"
                    for c in name) or "file"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


async def send_file(request: web.Request, open_chunk: Callable[[str], BinaryIO],
                    chunks: list[tuple[ChunkRef, int]], size: int, sha256: str, name: str,
                    max_chunk_bytes: int) -> web.StreamResponse:
    span = requested_range(request.headers.get("Range"), size)
    start, end = span if span is not None else (0, size)
    response = web.StreamResponse(status=206 if span is not None else 200)
    response.content_type = "application/octet-stream"
    response.content_length = end - start
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["ETag"] = f'"{sha256}"'
    response.headers["Content-Disposition"] = download_name_headers(name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if span is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    for chunk, offset in chunks:
        if offset + chunk.size <= start or offset >= end:
            continue
        position = offset
        with open_chunk(chunk.sha256) as handle:
            pieces = decompressed_pieces(handle, max_chunk_bytes, DOWNLOAD_PIECE)
            while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
                low, high = max(start - position, 0), min(end - position, len(piece))
                position += len(piece)
                if high > low:
                    await response.write(piece if high - low == len(piece)
                                         else memoryview(piece)[low:high])
                if position >= end:
                    break
    await response.write_eof()
    return response
