"""Decompress an uploaded chunk or a stored file only to check what it holds.

The zstd decompressor is streaming with a cap on its output, so a small body
that would expand without end (a zstd bomb) is refused after `limit` bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import zstandard

from hub.errors import BadRequest, HashMismatch, TooLarge

PIECE = 256 * 1024


def decompressed_pieces(compressed: BinaryIO, limit: int) -> Iterator[bytes]:
    """The original bytes of zstd frames in pieces; TooLarge once past `limit` bytes."""
    reader = zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True)
    total = 0
    try:
        while piece := reader.read(PIECE):
            total += len(piece)
            if total > limit:
                raise TooLarge(f"a chunk may hold at most {limit} bytes once decompressed",
                               code="decompressed_too_large")
            yield piece
    except zstandard.ZstdError as error:
        raise BadRequest(f"the body is not valid zstd ({error})", code="malformed_zstd") from None


def chunk_digest(compressed_path: Path, limit: int) -> tuple[str, int]:
    """(sha256 hex, size) of a compressed chunk's original bytes."""
    digest, size = hashlib.sha256(), 0
    with open(compressed_path, "rb") as handle:
        for piece in decompressed_pieces(handle, limit):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class ChunkRef:
    sha256: str
    size: int  # original bytes


def check_file_content(open_chunk, chunks: list[ChunkRef], sha256: str, limit: int) -> None:
    """Raise HashMismatch unless the chunks, in order, are the file with hash `sha256`.

    `open_chunk(hash)` opens a stored compressed chunk (the chunk store's `open`).
    """
    whole = hashlib.sha256()
    for position, chunk in enumerate(chunks):
        part, size = hashlib.sha256(), 0
        with open_chunk(chunk.sha256) as handle:
            for piece in decompressed_pieces(handle, limit):
                part.update(piece)
                whole.update(piece)
                size += len(piece)
        if part.hexdigest() != chunk.sha256 or size != chunk.size:
            raise HashMismatch(f"chunk {position} ({chunk.sha256[:12]}…) holds {size} bytes "
                               f"that do not match its hash and size {chunk.size}")
    if whole.hexdigest() != sha256:
        raise HashMismatch(f"the chunks together hash to {whole.hexdigest()}, "
                           f"not to the file's sha256 {sha256}")
