"""Cut a file into protocol chunks: 4 MiB of original bytes, each one zstd frame.

The file is streamed, never held whole in memory: at most one chunk of
original bytes and its compressed frame at a time. Every chunk file is
fsynced before this returns, so a caller that records the result afterwards
never records bytes that are not on disk.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

CHUNK_SIZE = 4 * 1024 * 1024  # original bytes per chunk (docs/ingest-protocol.md)
# Hashing runs beside compression (both release the GIL): one pass costs max(), not sum().
# Likewise writing and fsyncing chunk k overlaps compressing chunk k+1.
_hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kozo-hash")
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kozo-write")


@dataclass(frozen=True)
class Chunk:
    sha256: str  # of the original bytes
    size: int  # original bytes
    stored_size: int  # compressed bytes on disk


@dataclass(frozen=True)
class ChunkedFile:
    sha256: str  # of the whole original file
    size: int
    chunks: list[Chunk]

    @property
    def stored_size(self) -> int:
        return sum(c.stored_size for c in self.chunks)


def chunk_file_name(index: int) -> str:
    return f"{index:06d}.zst"


def write_chunks(source: BinaryIO, directory: Path, *, level: int = 3,
                 chunk_size: int = CHUNK_SIZE, durable: bool = True) -> ChunkedFile:
    """Compress `source` into directory/000000.zst, 000001.zst, ...

    With durable, each is fsynced before this returns; without, the caller
    syncs (sync_filesystem) before it records them.
    """
    compressor = zstandard.ZstdCompressor(level=level)
    whole = hashlib.sha256()
    chunks: list[Chunk] = []
    writes = []
    size = 0
    while True:
        data = source.read(chunk_size)
        if not data:
            break
        size += len(data)
        if len(data) < chunk_size and not chunks:  # the whole file is one short chunk
            chunk_sha256 = hashlib.sha256(data).hexdigest()  # ... and the file's hash too
            frame = compressor.compress(data)
            _write(directory / chunk_file_name(0), frame, durable)  # threads cost more here
            return ChunkedFile(chunk_sha256, size, [Chunk(chunk_sha256, size, len(frame))])
        hashed = _hasher.submit(_hash_chunk, whole, data)
        frame = compressor.compress(data)
        chunk_sha256 = hashed.result()
        writes.append(_writer.submit(_write, directory / chunk_file_name(len(chunks)), frame,
                                     durable))
        chunks.append(Chunk(chunk_sha256, len(data), len(frame)))
        if len(writes) > 2:  # bound the frames waiting in memory
            writes.pop(0).result()
    for write in writes:
        write.result()  # every chunk is on disk before the caller records it
    return ChunkedFile(whole.hexdigest(), size, chunks)


def _write(path: Path, frame: bytes, durable: bool) -> None:
    with open(path, "wb") as out:
        out.write(frame)
        if durable:
            out.flush()
            os.fsync(out.fileno())


_libc = ctypes.CDLL(None, use_errno=True)


def sync_filesystem(directory: Path) -> None:
    """Flush every written file and directory entry of the filesystem holding `directory`.

    One syncfs(2) for a whole batch instead of an fsync per file and folder;
    falls back to sync(2) where syncfs is missing.
    """
    syncfs = getattr(_libc, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs({directory}) failed: {os.strerror(error)}")
    finally:
        os.close(fd)


def _hash_chunk(whole: "hashlib._Hash", data: bytes) -> str:
    whole.update(data)
    return hashlib.sha256(data).hexdigest()


def read_chunk(directory: Path, index: int) -> bytes:
    """The compressed frame of one spooled chunk, as stored."""
    return (directory / chunk_file_name(index)).read_bytes()


def verify_chunk(frame: bytes, expected_sha256: str, expected_size: int) -> str | None:
    """None when the frame decompresses to the expected bytes; otherwise what is wrong."""
    try:
        data = zstandard.ZstdDecompressor().decompress(frame, max_output_size=expected_size + 1)
    except zstandard.ZstdError as error:
        return f"not a zstd frame ({error})"
    if len(data) != expected_size:
        return f"{len(data)} bytes instead of {expected_size}"
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        return "sha256 does not match"
    return None
