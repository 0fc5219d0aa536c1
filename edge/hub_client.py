"""The hub's API as the edge uses it (docs/ingest-protocol.md), one method per call.

Every failure is one of two errors: HubUnavailable (no answer, 5xx, 507: try
the same request again later) or HubRejected (4xx: a retry will not help).
Requests carry the device token; nothing here retries or stores state.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp

from edge.errors import HubRejected, HubUnavailable
from edge.spool import Entry
from edge.throttle import BandwidthLimit

API = "/api/v1"
PIECE = 64 * 1024  # bytes handed to the socket at once under a bandwidth limit
TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=10, sock_read=60)


class HubClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None, *,
                 limit: BandwidthLimit | None = None) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.token = token
        self.limit = limit

    async def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with self.session.request(method, self.url + path, headers=headers,
                                            timeout=TIMEOUT, **kwargs) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise HubUnavailable(f"hub {self.url} unreachable: {error or type(error).__name__}")\
                from None
        if status >= 500 or status == 507:
            raise HubUnavailable(f"hub {self.url} answered {status} to {method} {path}")
        if status >= 400:
            error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            raise HubRejected(status, error.get("code", "unknown"),
                              error.get("message", f"{method} {path}"),
                              body if isinstance(body, dict) else None)
        return status, body

    async def enroll(self, code: str, name: str) -> dict:
        _, body = await self._call("POST", f"{API}/devices/enroll",
                                   json={"code": code, "name": name})
        return body

    async def offer(self, entry: Entry) -> list[str]:
        """The chunk hashes the hub lacks, in order."""
        _, body = await self._call("POST", f"{API}/ingest/offer", json={
            "sha256": entry.sha256, "size": entry.size, "chunks": _chunk_list(entry)})
        return list(body["missing"])

    async def put_chunk(self, sha256: str, frame: bytes) -> bool:
        """Send one zstd frame; True when the hub stored it new."""
        data: bytes | AsyncIterator[bytes] = frame
        if self.limit is not None:
            data = self._paced(frame)
        status, _ = await self._call("PUT", f"{API}/ingest/chunks/{sha256}", data=data,
                                     headers={"Content-Type": "application/zstd",
                                              "Content-Length": str(len(frame))})
        return status == 201

    async def _paced(self, frame: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(frame), PIECE):
            piece = frame[start:start + PIECE]
            await self.limit.take(len(piece))
            yield piece

    async def commit(self, entry: Entry, metadata: dict) -> str:
        """The hub's file id; the same upload_id again gives the same id."""
        _, body = await self._call("POST", f"{API}/ingest/commit",
                                   json=_commit_body(entry, metadata))
        return body["file"]

    async def commit_many(self, entries: list[Entry], metadata: list[dict]) -> list[str | None]:
        """Commit several files in one request: per entry, the hub's file id, or None when
        the hub refused that one (the caller sends it again on its own to learn why)."""
        _, body = await self._call("POST", f"{API}/ingest/commits", json={"commits": [
            _commit_body(entry, extra) for entry, extra in zip(entries, metadata, strict=True)]})
        results = body["results"]
        if len(results) != len(entries):
            raise HubUnavailable(f"hub answered {len(results)} results for {len(entries)} files")
        return [r["file"] if r.get("status") in (200, 201) else None for r in results]

    async def current_model(self) -> dict | None:
        """{"name", "version", "sha256"} of the model the hub wants, None when it has none."""
        try:
            _, body = await self._call("GET", f"{API}/models/current")
        except HubRejected as error:
            if error.status == 404:
                return None
            raise
        return body

    async def download_archive(self, name: str, version: str, destination: Path) -> str:
        """Stream the model's zip archive to `destination`; returns its sha256."""
        digest = hashlib.sha256()
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        path = f"{API}/models/{name}/{version}/archive"
        try:
            async with self.session.get(self.url + path, headers=headers,
                                        timeout=TIMEOUT) as response:
                if response.status != 200:
                    raise HubUnavailable(f"hub answered {response.status} to GET {path}")
                with open(destination, "wb") as out:
                    async for block in response.content.iter_chunked(PIECE):
                        digest.update(block)
                        out.write(block)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise HubUnavailable(f"downloading {path} failed: {error}") from None
        return digest.hexdigest()


def _commit_body(entry: Entry, metadata: dict) -> dict:
    return {"upload_id": entry.upload_id, "sha256": entry.sha256, "size": entry.size,
            "chunks": _chunk_list(entry), "path": entry.path, "modified": entry.modified,
            "metadata": metadata, "predictions": entry.predictions,
            "check_error": entry.check_error}


def _chunk_list(entry: Entry) -> list[dict]:
    return [{"sha256": c.sha256, "size": c.size} for c in entry.chunks]
