"""Send spooled files to the hub: offer, PUT only the missing chunks, commit.

Small files (at most DIRECT_SEND_BYTES compressed) travel in batches: each one's
chunk PUT, then one commit request for the batch and one spool transaction for
their acknowledgements; anything a batch cannot settle goes the one-file way.

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
BATCH_FILES = 64  # small files committed in one request
PUTS_AT_ONCE = 4  # chunk PUTs of one batch in flight together
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
        metadata = self._metadata(entry)
        try:
            file_id = await self.client.commit(entry, metadata)
        except HubRejected as error:
            if error.status != 409:
                raise
            # The hub lost chunks between offer and commit (or another device's upload
            # raced ours): send what it names and commit once more.
            await self._put(entry, error.body.get("missing", []))
            file_id = await self.client.commit(entry, metadata)
        await self._acknowledge([(entry, file_id)])
        return file_id

    def _metadata(self, entry: Entry) -> dict:
        return {**self.metadata, **entry.metadata}

    async def _acknowledge(self, committed: list[tuple[Entry, str]]) -> None:
        """Record the hub's commits (one spool transaction), then say so."""
        await asyncio.to_thread(self.spool.mark_acknowledged,
                                [(entry.upload_id, file_id) for entry, file_id in committed])
        self.last_sync = time.time()
        self.hub_reachable = True
        for entry, file_id in committed:
            log.info("committed %r as %s (%d bytes)", entry.path, file_id, entry.size)
            if self.on_acknowledged:
                self.on_acknowledged(entry)

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
                await self.upload(entry)
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
            attempt += 1
            await self._wait_to_retry(message, repr(entry.path), attempt)

    async def upload_batch(self, entries: list[Entry]) -> list[Entry]:
        """One attempt for several small files; returns those it could not commit."""
        await asyncio.to_thread(self.spool.mark_in_flight, *(e.upload_id for e in entries))
        at_once = asyncio.Semaphore(PUTS_AT_ONCE)
        sent = await asyncio.gather(*(self._put_small(entry, at_once) for entry in entries))
        ready = [entry for entry, ok in zip(entries, sent, strict=True) if ok]
        leftovers = [entry for entry, ok in zip(entries, sent, strict=True) if not ok]
        if not ready:
            return leftovers
        files = await self.client.commit_many(ready, [self._metadata(e) for e in ready])
        committed = [(e, f) for e, f in zip(ready, files, strict=True) if f is not None]
        leftovers += [e for e, f in zip(ready, files, strict=True) if f is None]
        await self._acknowledge(committed)
        return leftovers

    async def _put_small(self, entry: Entry, at_once: asyncio.Semaphore) -> bool:
        """PUT a small file's chunks, a few files at once (the hub fsyncs each chunk: its
        disk takes several at a time); False when the one-file way must deal with it."""
        async with at_once:
            try:
                await self._put(entry, [chunk.sha256 for chunk in entry.chunks])
                return True
            except (SpoolCorrupt, HubRejected):
                return False

    async def upload_batch_until_done(self, entries: list[Entry]) -> None:
        """Retry a batch through hub outages; what else goes wrong goes one file at a time."""
        attempt = 0
        while True:
            try:
                leftovers = await self.upload_batch(entries)
                break
            except HubUnavailable as error:
                self.hub_reachable = False
                attempt += 1
                await self._wait_to_retry(str(error), f"{len(entries)} files", attempt)
            except (HubRejected, SpoolCorrupt, OSError) as error:  # e.g. a hub without batches
                log.info("batch of %d files not committed (%s); sending them one by one",
                         len(entries), error)
                leftovers = entries
                break
        for entry in leftovers:
            await self.upload_until_done(entry)

    async def _wait_to_retry(self, message: str, what: str, attempt: int) -> None:
        """Exponential backoff with full jitter, saying so now and then."""
        if attempt == 1 or attempt % 10 == 0:
            log.warning("%s; retrying %s (attempt %d)", message, what, attempt)
        self._note(message)
        await asyncio.sleep(random.uniform(0, min(self.retry_max_seconds,
                                                  FIRST_RETRY_SECONDS * 2 ** (attempt - 1))))

    async def run(self) -> None:
        """Keep `concurrency` uploads (one file, or a batch of small ones) in flight."""
        running: dict[str, asyncio.Task] = {}  # upload id → its task (shared by a batch)
        while True:
            self.wake.clear()
            room = self.concurrency - len(set(running.values()))
            if room > 0:
                entries = await asyncio.to_thread(self.spool.pending, room * BATCH_FILES,
                                                  set(running))
                for work in plan_uploads(entries, room):
                    task = asyncio.create_task(
                        self.upload_until_done(work[0]) if len(work) == 1
                        else self.upload_batch_until_done(work))
                    for entry in work:
                        running[entry.upload_id] = task
            waits = [asyncio.create_task(self.wake.wait())]
            try:
                await asyncio.wait([*set(running.values()), *waits], timeout=5.0,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waits[0].cancel()
            finished = {task for task in running.values() if task.done()}
            running = {u: task for u, task in running.items() if task not in finished}
            for task in finished:
                if not task.cancelled() and task.exception():
                    log.error("upload failed: %r", task.exception())


def plan_uploads(entries: list[Entry], room: int) -> list[list[Entry]]:
    """At most `room` uploads, oldest first: a large file alone, small ones in batches."""
    uploads: list[list[Entry]] = []
    batch: list[Entry] = []
    for entry in entries:
        if len(uploads) >= room:
            break
        if entry.stored_size > DIRECT_SEND_BYTES:
            uploads.append([entry])
            continue
        batch.append(entry)
        if len(batch) == BATCH_FILES:
            uploads.append(batch)
            batch = []
    if batch and len(uploads) < room:
        uploads.append(batch)
    return uploads
