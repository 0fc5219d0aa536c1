"""Send spooled files to the hub: offer, PUT only the missing chunks, commit.

Guarantee: every spooled file is committed at the hub exactly once. Each step
is idempotent (the upload id is fixed per file version), so after any failure,
a hub restart, a lost network or a killed daemon, the whole sequence is simply
run again; the spool frees a file's chunks only after the hub's commit answer.
Unreachable hub: retried with exponential backoff and full jitter.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from typing import Callable

from edge.chunking import verify_chunk
from edge.errors import HubRejected, HubUnavailable, SpoolCorrupt
from edge.hub_client import HubClient
from edge.spool import CORRUPT, REJECTED, Entry, Spool

DIRECT_SEND_BYTES = 64 * 1024  # compressed bytes up to which a file skips the offer
log = logging.getLogger("kozo.edge.sync")

FIRST_RETRY_SECONDS = 0.5
AUTH_FAILURES = (401, 403)


class Syncer:
    def __init__(self, spool: Spool, client: HubClient, *, concurrency: int = 4,
                 retry_max_seconds: float = 60.0, metadata: dict | None = None,
                 on_acknowledged: Callable[[Entry], None] | None = None) -> None:
        self.spool = spool
        self.client = client
        self.concurrency = concurrency
        self.retry_max_seconds = retry_max_seconds
        self.metadata = metadata or {}
        self.on_acknowledged = on_acknowledged
        self.wake = asyncio.Event()
        self.errors: deque[dict] = deque(maxlen=20)
        self.last_sync: float | None = None
        self.hub_reachable: bool | None = None

    def _note(self, message: str) -> None:
        self.errors.append({"time": time.time(), "error": message})

    async def upload(self, entry: Entry) -> str:
        """One attempt at the whole sequence; returns the hub's file id."""
        await asyncio.to_thread(self.spool.mark_in_flight, entry.upload_id)
        if entry.stored_size <= DIRECT_SEND_BYTES:
            # Cheaper to send than to ask about: the hub answers 200 for a chunk it already
            # holds, and the offer's round trip is a third of a small file's cost. Should a
            # chunk be gone from the spool, the offer decides whether the hub still needs it.
            try:
                await self._put(entry, [chunk.sha256 for chunk in entry.chunks])
            except SpoolCorrupt:
                await self._put(entry, await self.client.offer(entry))
        else:
            await self._put(entry, await self.client.offer(entry))
        metadata = {**self.metadata, **entry.metadata}
        try:
            file_id = await self.client.commit(entry, metadata)
        except HubRejected as error:
            if error.status != 409:
                raise
            # The hub lost chunks between offer and commit (or another device's upload
            # raced ours): send what it names and commit once more.
            await self._put(entry, error.body.get("missing", []))
            file_id = await self.client.commit(entry, metadata)
        await asyncio.to_thread(self.spool.mark_acknowledged, entry.upload_id, file_id)
        self.last_sync = time.time()
        self.hub_reachable = True
        return file_id

    async def _put(self, entry: Entry, missing: list[str]) -> None:
        index_of = {c.sha256: i for i, c in enumerate(entry.chunks)}
        for sha256 in dict.fromkeys(missing):
            if sha256 not in index_of:
                raise HubRejected(400, "unknown_chunk", f"hub asked for chunk {sha256} "
                                  f"that {entry.path} does not have")
            try:
                frame = await asyncio.to_thread(self.spool.chunk_frame, entry.upload_id,
                                                index_of[sha256])
            except OSError as error:
                raise SpoolCorrupt(f"{entry.path}: chunk {index_of[sha256]} unreadable "
                                   f"({error.strerror})") from None
            try:
                await self.client.put_chunk(sha256, frame)
            except HubRejected as error:
                if error.status == 422:
                    raise SpoolCorrupt(f"{entry.path}: the hub found chunk "
                                       f"{index_of[sha256]} does not match its hash") from None
                # Other refusals of the body (400 not zstd, 413 too large once decompressed)
                # are the spool's fault too when the frame fails our own check.
                chunk = entry.chunks[index_of[sha256]]
                problem = await asyncio.to_thread(verify_chunk, frame, chunk.sha256, chunk.size)
                if problem is not None:
                    raise SpoolCorrupt(f"{entry.path}: chunk {index_of[sha256]} is corrupt "
                                       f"in the spool ({problem}); the hub answered "
                                       f"{error.status} {error.code}") from None
                raise

    async def upload_until_done(self, entry: Entry) -> None:
        """Retry one file through hub outages until it is committed or set aside."""
        attempt = 0
        while True:
            try:
                file_id = await self.upload(entry)
                log.info("committed %r as %s (%d bytes)", entry.path, file_id, entry.size)
                if self.on_acknowledged:
                    self.on_acknowledged(entry)
                return
            except SpoolCorrupt as error:
                log.error("%s; set aside for repair from the source", error)
                self._note(str(error))
                await asyncio.to_thread(self.spool.mark_problem, entry.upload_id, CORRUPT,
                                        str(error))
                return
            except HubRejected as error:
                if error.status not in AUTH_FAILURES:
                    log.error("%r: %s; kept in the spool as 'rejected'", entry.path, error)
                    self._note(f"{entry.path}: {error}")
                    await asyncio.to_thread(self.spool.mark_problem, entry.upload_id,
                                            REJECTED, str(error))
                    return
                message = f"{error} (is the device enrolled? `kozo edge enroll`)"
            except HubUnavailable as error:
                message = str(error)
                self.hub_reachable = False
            delay = random.uniform(0, min(self.retry_max_seconds,
                                          FIRST_RETRY_SECONDS * 2 ** attempt))
            attempt += 1
            if attempt == 1 or attempt % 10 == 0:
                log.warning("%s; retrying %r (attempt %d)", message, entry.path, attempt)
            self._note(message)
            await asyncio.sleep(delay)

    async def run(self) -> None:
        """Keep `concurrency` files in flight while the spool has any."""
        running: dict[str, asyncio.Task] = {}
        while True:
            self.wake.clear()
            room = self.concurrency - len(running)
            if room > 0:
                entries = await asyncio.to_thread(self.spool.pending, room, set(running))
                for entry in entries:
                    running[entry.upload_id] = asyncio.create_task(
                        self.upload_until_done(entry))
            waits = [asyncio.create_task(self.wake.wait())]
            try:
                await asyncio.wait([*running.values(), *waits], timeout=5.0,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waits[0].cancel()
            for upload_id, task in list(running.items()):
                if task.done():
                    del running[upload_id]
                    if not task.cancelled() and task.exception():
                        log.error("upload of %s failed: %r", upload_id, task.exception())
