"""The offer and commit bodies of docs/ingest-protocol.md, checked field by field.

Every check names the field and what arrived, so an edge bug is found from
the hub's answer alone. The path and metadata are kept as data: nothing on the
hub ever opens a path that came from a device.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from hub.chunk_check import ChunkRef
from hub.chunk_store import check_hash
from hub.config import HubConfig
from hub.errors import BadRequest, TooLarge

MAX_PATH_CHARS = 4096
MAX_UPLOAD_ID_CHARS = 200


@dataclass(frozen=True)
class Offer:
    sha256: str
    size: int
    chunks: list[ChunkRef]


@dataclass(frozen=True)
class Commit:
    upload_id: str
    offer: Offer
    path: str
    modified: float | None
    metadata: dict[str, Any]
    predictions: dict[str, Any] | None
    check_error: str | None


def _field(body: dict, name: str, kinds: type | tuple, *, optional: bool = False) -> Any:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    value = body.get(name)
    if value is None and optional:
        return None
    is_bool_for_number = isinstance(value, bool) and bool not in kinds  # JSON true is no number
    if is_bool_for_number or not isinstance(value, kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise BadRequest(f"{name} must be {expected}; got {json.dumps(body.get(name))[:80]}",
                         code="malformed_request")
    return value


def parse_offer(body: dict, config: HubConfig) -> Offer:
    sha256 = check_hash(_field(body, "sha256", str))
    size = _field(body, "size", int)
    chunks = _field(body, "chunks", list)
    if size < 0:
        raise BadRequest(f"size must be at least 0; got {size}", code="malformed_request")
    if len(chunks) > config.max_chunks_per_file:
        raise TooLarge(f"a file may have at most {config.max_chunks_per_file} chunks; "
                       f"this one has {len(chunks)}", code="too_many_chunks")
    refs = []
    for position, chunk in enumerate(chunks):
        if not isinstance(chunk, dict):
            raise BadRequest(f"chunks[{position}] must be an object", code="malformed_request")
        chunk_size = _field(chunk, "size", int)
        if not 1 <= chunk_size <= config.max_chunk_bytes:
            raise BadRequest(f"chunks[{position}].size must be 1 to {config.max_chunk_bytes} "
                             f"bytes; got {chunk_size}", code="bad_chunk_size")
        refs.append(ChunkRef(check_hash(_field(chunk, "sha256", str)), chunk_size))
    total = sum(r.size for r in refs)
    if total != size:
        raise BadRequest(f"the chunk sizes add up to {total} bytes, not to size {size}",
                         code="sizes_disagree")
    return Offer(sha256, size, refs)


def parse_commit(body: dict, config: HubConfig) -> Commit:
    offer = parse_offer(body, config)
    upload_id = _field(body, "upload_id", str)
    if not 1 <= len(upload_id) <= MAX_UPLOAD_ID_CHARS:
        raise BadRequest(f"upload_id must have 1 to {MAX_UPLOAD_ID_CHARS} characters",
                         code="malformed_request")
    path = _field(body, "path", str)
    if not 1 <= len(path) <= MAX_PATH_CHARS or "\x00" in path:
        raise BadRequest(f"path must have 1 to {MAX_PATH_CHARS} characters and no NUL",
                         code="malformed_request")
    modified = _field(body, "modified", (int, float), optional=True)
    if modified is not None and not math.isfinite(modified):
        raise BadRequest("modified must be a finite time in seconds", code="malformed_request")
    metadata = _field(body, "metadata", dict, optional=True) or {}
    if len(json.dumps(metadata)) > config.max_metadata_bytes:
        raise TooLarge(f"metadata may be at most {config.max_metadata_bytes} bytes as JSON",
                       code="metadata_too_large")
    predictions = _field(body, "predictions", dict, optional=True)
    if predictions is not None:
        _check_predictions(predictions)
    check_error = _field(body, "check_error", str, optional=True)
    return Commit(upload_id, offer, path, modified, metadata, predictions, check_error)


def _check_predictions(predictions: dict) -> None:
    _field(predictions, "model", str)
    _field(predictions, "version", str)
    values = _field(predictions, "values", dict)
    for name, entry in values.items():
        if not isinstance(entry, dict):
            raise BadRequest(f"predictions.values.{name[:64]} must be an object "
                             "{value, unit}", code="malformed_request")
        value = _field(entry, "value", (int, float))
        if not math.isfinite(value):
            raise BadRequest(f"predictions.values.{name[:64]}.value must be finite",
                             code="malformed_request")
        _field(entry, "unit", str, optional=True)


def file_name(path: str) -> str:
    """The last part of a device's path, for search and download names."""
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "file"
