"""Decompress an uploaded chunk or a stored file only to check what it holds.

The zstd decompressor is streaming with a cap on its output, so a small body
that would expand without end (a zstd bomb) is refused after `limit` bytes.
A chunk is one zstd frame that declares its content size (as every one-shot
compressor writes it); zstd itself checks that declaration while decompressing,
so once a chunk is stored its header is a trustworthy record of its size, and a
commit reads 18 header bytes per chunk instead of decompressing the file again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import zstandard

from hub.errors import BadRequest, HashMismatch, TooLarge

PIECE = 256 * 1024
FRAME_HEADER_MAX = 18  # bytes: ZSTD_FRAMEHEADERSIZE_MAX in zstd.h


def decompressed_pieces(compressed: BinaryIO, limit: int,
                        piece_size: int = PIECE) -> Iterator[bytes]:
    """The original bytes of zstd frames in pieces; TooLarge once past `limit` bytes."""
    reader = zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True)
    total = 0
    try:
        while piece := reader.read(piece_size):
            total += len(piece)
            if total > limit:
                raise TooLarge(f"a chunk may hold at most {limit} bytes once decompressed",
                               code="decompressed_too_large")
            yield piece
    except zstandard.ZstdError as error:
        raise BadRequest(f"the body is not valid zstd ({error})", code="malformed_zstd") from None


def declared_size(header: bytes) -> int | None:
    """The content size a zstd frame header (the first FRAME_HEADER_MAX bytes of a frame)
    declares; None if it declares none."""
    try:
        size = zstandard.frame_content_size(header)
    except zstandard.ZstdError:
        return None
    return size if size >= 0 else None


def chunk_digest(compressed_path: Path, limit: int) -> tuple[str, int]:
    """(sha256 hex, size) of a chunk's original bytes; BadRequest unless it is one zstd
    frame that declares its size, TooLarge when that size is over `limit`.

    Decompressed in one call, which releases the GIL for all of it (the streaming reader
    holds it between pieces, and then fifty uploads crowd the event loop's thread); the
    memory is bounded by `limit` and by the hub's upload slots.
    """
    compressed = Path(compressed_path).read_bytes()
    declared = declared_size(compressed[:FRAME_HEADER_MAX])
    if declared is None:
        raise BadRequest("send each chunk as one zstd frame that declares its content size",
                         code="malformed_zstd")
    if declared > limit:
        raise TooLarge(f"a chunk may hold at most {limit} bytes once decompressed",
                       code="decompressed_too_large")
    try:
        original = zstandard.ZstdDecompressor().decompress(compressed, allow_extra_data=False)
    except zstandard.ZstdError as error:
        raise BadRequest(f"the body is not one valid zstd frame ({error})",
                         code="malformed_zstd") from None
    return hashlib.sha256(original).hexdigest(), len(original)


@dataclass(frozen=True)
class ChunkRef:
    sha256: str
    size: int  # original bytes


def check_file_content(open_chunk: Callable[[str], BinaryIO], chunks: list[ChunkRef],
                       sha256: str, limit: int) -> None:
    """Raise HashMismatch unless the stored chunks, in order, are the file with hash `sha256`.

    `open_chunk(hash)` opens a stored compressed chunk (the chunk store's `open`). A stored
    chunk's hash was checked when it was stored, and its header records its size: a
    one-chunk file is checked without decompressing; a longer one is hashed whole, once.
    """
    for position, chunk in enumerate(chunks):
        with open_chunk(chunk.sha256) as handle:
            size = declared_size(handle.read(FRAME_HEADER_MAX))
        if size is None:  # stored before chunks had to declare their size
            return _check_by_reading(open_chunk, chunks, sha256, limit)
        if size != chunk.size:
            raise HashMismatch(f"chunk {position} ({chunk.sha256[:12]}…) holds {size} bytes, "
                               f"not {chunk.size}")
    if len(chunks) == 1 and chunks[0].sha256 == sha256:
        return
    _check_by_reading(open_chunk, chunks, sha256, limit)


def _check_by_reading(open_chunk: Callable[[str], BinaryIO], chunks: list[ChunkRef],
                      sha256: str, limit: int) -> None:
    whole = hashlib.sha256()
    for position, chunk in enumerate(chunks):
        size = 0
        with open_chunk(chunk.sha256) as handle:
            for piece in decompressed_pieces(handle, limit):
                whole.update(piece)
                size += len(piece)
        if size != chunk.size:
            raise HashMismatch(f"chunk {position} ({chunk.sha256[:12]}…) holds {size} bytes, "
                               f"not {chunk.size}")
    if whole.hexdigest() != sha256:
        raise HashMismatch(f"the chunks together hash to {whole.hexdigest()}, "
                           f"not to the file's sha256 {sha256}")
