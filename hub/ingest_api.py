"""The edge's half of the API: enrol, offer, chunk PUT, commit one file or several
(docs/ingest-protocol.md).

Guarantees: every step is idempotent; a chunk is stored only once its decompressed
bytes match its hash, and a file only once its chunks, in order, match the file's
hash; a refused or truncated request leaves nothing behind (its temporary file is
removed in `finally`). The instrument of a file is the device token's, never the body's.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from pathlib import Path

from aiohttp import web

from hub import accounts, catalog
from hub.chunk_check import check_file_content, chunk_digest
from hub.chunk_store import ChunkStore, check_hash
from hub.config import HubConfig
from hub.auth import Principal
from hub.errors import (BadRequest, HashMismatch, HubError, StorageFull, TooLarge,
                        UnsupportedMediaType)
from hub.file_writer import Committed, refuse_missing_chunks
from hub.http_support import caller
from hub.ingest_messages import Commit, parse_commit, parse_offer
from hub.request_bodies import read_json_object, save_body
from hub.state import CHUNKS, CONFIG, DATABASE, FILE_WRITER, METRICS, UPLOAD_SLOTS

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
    # Bounded admission: past `upload_slots`, a body waits in the socket (TCP pushes back
    # on the device) instead of crowding the event loop that serves people's requests.
    try:
        async with request.app[UPLOAD_SLOTS]:
            compressed = await save_body(request, upload, config.max_compressed_chunk_bytes,
                                         "a compressed chunk")
    except BaseException:
        upload.unlink(missing_ok=True)
        raise
    stored = await asyncio.to_thread(_verify_and_store, store, sha256, upload,
                                     config.max_chunk_bytes)
    if stored:
        metrics = request.app[METRICS]
        metrics.chunks_stored.inc()
        metrics.chunk_bytes.inc(compressed)
    return web.json_response({"stored": stored}, status=201 if stored else 200)


def _verify_and_store(store: ChunkStore, sha256: str, upload: Path, limit: int) -> bool:
    """One trip to a worker thread: decompress, hash, fsync, rename; the upload is gone
    afterwards whatever happens (an unlink on the event loop cost lists their latency)."""
    try:
        actual, _ = chunk_digest(upload, limit)
        if actual != sha256:
            raise HashMismatch(f"the decompressed body hashes to {actual}, not to {sha256}")
        return store.put_from_file(sha256, upload)
    finally:
        upload.unlink(missing_ok=True)


async def commit(request: web.Request) -> web.Response:
    device = caller(request).require("device")
    config = request.app[CONFIG]
    committing = parse_commit(await read_json_object(request, config.max_json_bytes), config)
    committed = await _commit_one(request.app, device, committing)
    return web.json_response({"file": committed.file_id, "committed": True},
                             status=201 if committed.created else 200)


async def commit_many(request: web.Request) -> web.Response:
    """Several commits in one request: for small files, the round trip is most of the cost.

    The body is `{"commits": [commit, ...]}`; a malformed one refuses the whole request
    (400, naming it), while what concerns one file (missing chunks, hash mismatch, reused
    upload id) is answered for that file alone, in `results`, in order.
    """
    device = caller(request).require("device")
    config = request.app[CONFIG]
    body = await read_json_object(request, config.max_json_bytes)
    items = body.get("commits")
    if not isinstance(items, list) or not items:
        raise BadRequest("send {\"commits\": [commit, ...]} with at least one commit",
                         code="malformed_request")
    if len(items) > config.max_files_per_commit:
        raise TooLarge(f"at most {config.max_files_per_commit} files per commit; got "
                       f"{len(items)}", code="too_many_files")
    commits = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"commits[{index}] must be an object", code="malformed_request")
        try:
            commits.append(parse_commit(item, config))
        except HubError as error:
            raise type(error)(f"commits[{index}]: {error}", code=error.code) from None
    if len({c.upload_id for c in commits}) < len(commits):
        raise BadRequest("each upload_id may appear once per request", code="malformed_request")
    answers = await asyncio.gather(*(_commit_one(request.app, device, c) for c in commits),
                                   return_exceptions=True)
    results = []
    for answer in answers:
        if isinstance(answer, HubError):
            results.append({"status": answer.status, **answer.extra,
                            "error": {"code": answer.code, "message": str(answer)}})
        elif isinstance(answer, BaseException):
            raise answer
        else:
            results.append({"status": 201 if answer.created else 200, "file": answer.file_id,
                            "committed": True})
    return web.json_response({"results": results})


async def _commit_one(app: web.Application, device: Principal, committing: Commit) -> Committed:
    config, db, store = app[CONFIG], app[DATABASE], app[CHUNKS]
    known = catalog.file_by_upload(db, device.device_id, committing.upload_id)
    if known is None:  # a retry of a committed upload skips the checks
        refuse_missing_chunks(store, committing)
        try:
            await asyncio.to_thread(check_file_content, store.open, committing.offer.chunks,
                                    committing.offer.sha256, config.max_chunk_bytes)
        except FileNotFoundError:  # deleted with its last file since the line above
            refuse_missing_chunks(store, committing)
            raise
    # The writer checks once more, in its transaction, that the upload id is new and
    # that the chunks are still stored (a delete may have removed one meanwhile).
    committed = await app[FILE_WRITER].commit(device, committing)
    if committed.created:
        app[METRICS].files_committed.inc()
    return committed
