"""A minimal but real hub for docs/ingest-protocol.md, for the edge's tests.

It serves exactly the protocol (enrol, offer, chunks, commit, current model and
its archive, health) and keeps everything on disk under one folder, so that a
test can stop and restart it as a separate process and then read what arrived
with `arrivals()`. Chunks are decompressed with the 8 MiB limit and checked
against their hash before they are stored (atomically, by rename).

    python -m tests.edge.protocol_hub --port 8700 --data DIR --token T --code C
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import secrets
import tempfile
import zipfile
from pathlib import Path

import zstandard
from aiohttp import web

MAX_CHUNK = 8 * 1024 * 1024
INSTRUMENT = "xrd-1"
SHA = set("0123456789abcdef")


def _error(status: int, code: str, message: str, **extra) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}, **extra},
                             status=status)


def _is_hash(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= SHA


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


class Store:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.chunks = data / "chunks"
        self.files = data / "files"
        for folder in (self.chunks, self.files):
            folder.mkdir(parents=True, exist_ok=True)
        self.devices_path = data / "devices.json"

    def devices(self) -> dict:
        return json.loads(self.devices_path.read_text()) if self.devices_path.exists() else {}

    def save_devices(self, devices: dict) -> None:
        _write_atomically(self.devices_path, json.dumps(devices).encode())


def create_app(data: Path, *, tokens: tuple[str, ...] = (), codes: tuple[str, ...] = (),
               model: Path | None = None) -> web.Application:
    store = Store(Path(data))
    devices = store.devices()
    for token in tokens:
        devices.setdefault(f"token:{token}", {"device": "dev_test", "instrument": INSTRUMENT})
    for code in codes:
        devices.setdefault(f"code:{code}", {"used": False})
    store.save_devices(devices)
    archive = None
    if model is not None:
        meta = json.loads((model / "model.json").read_text())
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.write(model / "model.json", "model.json")
            zf.write(model / "model.onnx", "model.onnx")
        archive = {"name": meta["name"], "version": str(meta["version"]),
                   "bytes": buffer.getvalue()}
        archive["sha256"] = hashlib.sha256(archive["bytes"]).hexdigest()

    def device_of(request: web.Request) -> dict | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return store.devices().get(f"token:{header[7:]}")

    def chunk_list(body) -> list[dict] | None:
        chunks = body.get("chunks")
        if not isinstance(chunks, list) or not all(
                isinstance(c, dict) and _is_hash(c.get("sha256")) and isinstance(c.get("size"), int)
                and 0 < c["size"] <= MAX_CHUNK for c in chunks):
            return None
        return chunks

    async def healthz(request):
        return web.json_response({"status": "ok"})

    async def enroll(request):
        body = await request.json()
        all_devices = store.devices()
        code = all_devices.get(f"code:{body.get('code')}")
        if code is None:
            return _error(403, "bad_code", "unknown enrolment code")
        if code["used"]:
            return _error(403, "code_used", "this enrolment code was used already")
        code["used"] = True
        device = f"dev_{secrets.token_hex(6)}"
        token = f"kozo_dev_{secrets.token_hex(16)}"
        all_devices[f"token:{token}"] = {"device": device, "instrument": INSTRUMENT}
        store.save_devices(all_devices)
        return web.json_response({"device": device, "instrument": INSTRUMENT, "token": token},
                                 status=201)

    async def offer(request):
        if device_of(request) is None:
            return _error(401, "unauthorized", "no or bad token")
        body = await request.json()
        chunks = chunk_list(body)
        if chunks is None or not _is_hash(body.get("sha256")) or \
                sum(c["size"] for c in chunks) != body.get("size"):
            return _error(400, "malformed", "bad offer")
        missing = [c["sha256"] for c in chunks if not (store.chunks / c["sha256"]).exists()]
        return web.json_response({"missing": list(dict.fromkeys(missing))})

    async def put_chunk(request):
        if device_of(request) is None:
            return _error(401, "unauthorized", "no or bad token")
        sha256 = request.match_info["sha256"]
        if not _is_hash(sha256):
            return _error(400, "malformed", "not a sha256")
        if request.content_type != "application/zstd":
            return _error(415, "wrong_content_type", "expected application/zstd")
        fd, tmp = tempfile.mkstemp(dir=store.chunks, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for block in request.content.iter_chunked(65536):
                    out.write(block)
            reader = zstandard.ZstdDecompressor().stream_reader(open(tmp, "rb"))
            with reader:
                try:
                    data = reader.read(MAX_CHUNK + 1)
                    while len(data) <= MAX_CHUNK:
                        more = reader.read(MAX_CHUNK + 1 - len(data))
                        if not more:
                            break
                        data += more
                except zstandard.ZstdError:
                    return _error(422, "hash_mismatch", "not a zstd frame")
            if len(data) > MAX_CHUNK:
                return _error(413, "decompressed_too_large", "chunk over 8 MiB")
            if hashlib.sha256(data).hexdigest() != sha256:
                return _error(422, "hash_mismatch", "content does not match its hash")
            final = store.chunks / sha256
            if final.exists():
                return web.json_response({"stored": False}, status=200)
            _write_atomically(final, data)
            return web.json_response({"stored": True}, status=201)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    async def commit(request):
        device = device_of(request)
        if device is None:
            return _error(401, "unauthorized", "no or bad token")
        body = await request.json()
        chunks = chunk_list(body)
        upload_id = body.get("upload_id")
        if chunks is None or not isinstance(upload_id, str) or not upload_id or \
                not _is_hash(body.get("sha256")) or \
                sum(c["size"] for c in chunks) != body.get("size") or \
                not isinstance(body.get("path"), str):
            return _error(400, "malformed", "bad commit")
        if len(json.dumps(body.get("metadata") or {})) > 64 * 1024:
            return _error(413, "metadata_too_large", "metadata over 64 KiB")
        file_id = "file_" + hashlib.sha256(
            f"{device['device']}\0{upload_id}".encode()).hexdigest()[:24]
        record_path = store.files / f"{file_id}.json"
        if record_path.exists():
            return web.json_response({"file": file_id, "committed": True}, status=200)
        missing = [c["sha256"] for c in chunks if not (store.chunks / c["sha256"]).exists()]
        if missing:
            return _error(409, "missing_chunks", "chunks missing",
                          missing=list(dict.fromkeys(missing)))
        whole = hashlib.sha256()
        for c in chunks:
            whole.update((store.chunks / c["sha256"]).read_bytes())
        if whole.hexdigest() != body["sha256"]:
            return _error(422, "hash_mismatch", "chunks do not make up the file hash")
        record = {**{k: body.get(k) for k in ("upload_id", "sha256", "size", "chunks", "path",
                                              "modified", "metadata", "predictions",
                                              "check_error")},
                  "file": file_id, "device": device["device"],
                  "instrument": device["instrument"]}
        _write_atomically(record_path, json.dumps(record).encode())
        return web.json_response({"file": file_id, "committed": True}, status=201)

    async def current_model(request):
        if device_of(request) is None:
            return _error(401, "unauthorized", "no or bad token")
        if archive is None:
            return _error(404, "no_current_model", "no current model")
        return web.json_response({k: archive[k] for k in ("name", "version", "sha256")})

    async def model_archive(request):
        if device_of(request) is None:
            return _error(401, "unauthorized", "no or bad token")
        if archive is None or (request.match_info["name"], request.match_info["version"]) != \
                (archive["name"], archive["version"]):
            return _error(404, "unknown_model", "no such model")
        return web.Response(body=archive["bytes"], content_type="application/zip")

    app = web.Application(client_max_size=MAX_CHUNK * 2)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/v1/devices/enroll", enroll)
    app.router.add_post("/api/v1/ingest/offer", offer)
    app.router.add_put("/api/v1/ingest/chunks/{sha256}", put_chunk)
    app.router.add_post("/api/v1/ingest/commit", commit)
    app.router.add_get("/api/v1/models/current", current_model)
    app.router.add_get("/api/v1/models/{name}/{version}/archive", model_archive)
    return app


# -- what a test reads back (from disk, not over HTTP) --------------------------------

def arrivals(data: Path) -> list[dict]:
    """Every committed file record."""
    files = Path(data) / "files"
    if not files.exists():
        return []
    out = []
    for path in files.glob("file_*.json"):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out


def content(data: Path, record: dict) -> bytes:
    """A committed file's bytes, reassembled from the hub's chunks."""
    return b"".join((Path(data) / "chunks" / c["sha256"]).read_bytes() for c in record["chunks"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--token", action="append", default=[])
    parser.add_argument("--code", action="append", default=[])
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    web.run_app(create_app(args.data, tokens=tuple(args.token), codes=tuple(args.code),
                           model=args.model), host="127.0.0.1", port=args.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
