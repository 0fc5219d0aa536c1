"""The edge's half of the API: enrol, offer, chunk PUT, commit (docs/ingest-protocol.md).

Guarantees: every step is idempotent; a chunk is stored only once its decompressed
bytes match its hash, and a file only once its chunks, in order, match the file's
hash; a refused or truncated request leaves nothing behind (its temporary file is
removed in `finally`). The instrument of a file is the device token's, never the body's.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil

from aiohttp import web

from hub import accounts, catalog
from hub.chunk_check import check_file_content, chunk_digest
from hub.chunk_store import check_hash
from hub.config import HubConfig
from hub.errors import BadRequest, Conflict, HashMismatch, StorageFull, UnsupportedMediaType
from hub.http_support import caller
from hub.ingest_messages import parse_commit, parse_offer
from hub.request_bodies import read_json_object, save_body
from hub.state import CHUNKS, CONFIG, DATABASE, METRICS

ZSTD_TYPE = "application/zstd"


async def enroll(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    body = await read_json_object(request, config.max_json_bytes)
    code, name = body.get("code"), body.get("name")
    if not isinstance(code, str) or not isinstance(name, str):
        raise BadRequest("send {\"code\": \"ONE-TIME-CODE\", \"name\": \"DEVICE-NAME\"}",
                         code="malformed_request")
    enrolled = accounts.enroll_device(request.app[DATABASE], code, name,
                                      config.device_token_days)
    return web.json_response(enrolled, status=201)


async def offer(request: web.Request) -> web.Response:
    caller(request).require("device")
    config = request.app[CONFIG]
    offered = parse_offer(await read_json_object(request, config.max_json_bytes), config)
    store = request.app[CHUNKS]
    missing = [h for h in dict.fromkeys(c.sha256 for c in offered.chunks) if not store.has(h)]
    return web.json_response({"missing": missing})


def refuse_when_disk_is_full(config: HubConfig) -> None:
    if config.min_free_bytes and shutil.disk_usage(config.data_dir).free < config.min_free_bytes:
        raise StorageFull(f"the hub keeps {config.min_free_bytes} bytes free and has less; "
                          "try again later", code="storage_full")


async def put_chunk(request: web.Request) -> web.Response:
    caller(request).require("device")
    sha256 = check_hash(request.match_info["sha256"])
    if request.content_type != ZSTD_TYPE:
        raise UnsupportedMediaType(f"send the chunk as {ZSTD_TYPE}; got "
                                   f"{request.content_type!r}")
    config, store = request.app[CONFIG], request.app[CHUNKS]
    refuse_when_disk_is_full(config)
    upload = config.temp_dir / f"chunk-{secrets.token_hex(8)}.zst"
    try:
        compressed = await save_body(request, upload, config.max_compressed_chunk_bytes,
                                     "a compressed chunk")
        actual, _ = await asyncio.to_thread(chunk_digest, upload, config.max_chunk_bytes)
        if actual != sha256:
            raise HashMismatch(f"the decompressed body hashes to {actual}, not to {sha256}")
        stored = await asyncio.to_thread(store.put_from_file, sha256, upload)
    finally:
        upload.unlink(missing_ok=True)
    if stored:
        metrics = request.app[METRICS]
        metrics.chunks_stored.inc()
        metrics.chunk_bytes.inc(compressed)
    return web.json_response({"stored": stored}, status=201 if stored else 200)


async def commit(request: web.Request) -> web.Response:
    device = caller(request).require("device")
    config, db, store = request.app[CONFIG], request.app[DATABASE], request.app[CHUNKS]
    committing = parse_commit(await read_json_object(request, config.max_json_bytes), config)
    if (response := _already_committed(db, device, committing)) is not None:
        return response
    _refuse_missing_chunks(store, committing)
    await asyncio.to_thread(check_file_content, store.open, committing.offer.chunks,
                            committing.offer.sha256, config.max_chunk_bytes)
    # From here to the insert there is no await: a delete cannot remove a chunk between
    # this last check and the rows that make the chunk used again.
    if (response := _already_committed(db, device, committing)) is not None:
        return response
    _refuse_missing_chunks(store, committing)
    file_id = catalog.add_file(db, device, committing)
    request.app[METRICS].files_committed.inc()
    return web.json_response({"file": file_id, "committed": True}, status=201)


def _already_committed(db, device, committing) -> web.Response | None:
    known = catalog.file_by_upload(db, device.device_id, committing.upload_id)
    if known is None:
        return None
    if (known["sha256"], known["size"]) != (committing.offer.sha256, committing.offer.size):
        raise Conflict(f"upload_id {committing.upload_id[:80]!r} was committed with other "
                       "content; a new file version needs a new upload_id",
                       code="upload_id_reused")
    return web.json_response({"file": known["id"], "committed": True}, status=200)


def _refuse_missing_chunks(store, committing) -> None:
    missing = [h for h in dict.fromkeys(c.sha256 for c in committing.offer.chunks)
               if not store.has(h)]
    if missing:
        raise Conflict(f"the hub lacks {len(missing)} of this file's chunks; send them first",
                       code="missing_chunks", extra={"missing": missing})
