"""The one writer of committed files and their chunks' lifetime: group commit, delete.

Why: every SQLite commit fsyncs the WAL. Done on the event loop, fifty devices
committing at once held every other request (lists, downloads) behind those
fsyncs. Here the commits that arrive while a transaction is being written wait
and then share the next one (one fsync for all of them), written by one thread
with its own connection, off the event loop.

Guarantee: this thread is the only place where file rows are added and where
chunks no live file uses are removed, so a delete can never remove a chunk
between a commit's check that its chunks are stored and the rows that use them.
Each commit in a group has its own savepoint: one refused commit (a reused
upload id, a chunk gone) does not undo the others.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from hub import catalog
from hub.auth import Principal
from hub.chunk_store import ChunkStore
from hub.database import open_database
from hub.errors import Conflict, HubError
from hub.ingest_messages import Commit

MAX_GROUP = 256  # commits written in one transaction at most
T = TypeVar("T")


@dataclass(frozen=True)
class Committed:
    file_id: str
    created: bool  # False when this upload id had been committed before


@dataclass
class _Waiting:
    device: Principal
    commit: Commit
    answer: asyncio.Future


class FileWriter:
    def __init__(self, database_path: Path, store: ChunkStore) -> None:
        self.db = open_database(database_path)
        self.store = store
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kozo-file-writer")
        self.waiting: list[_Waiting] = []
        self.writing: asyncio.Task | None = None

    async def commit(self, device: Principal, commit: Commit) -> Committed:
        """Record the file once its transaction is durable; HubError when refused."""
        answer = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiting(device, commit, answer))
        if self.writing is None or self.writing.done():
            self.writing = asyncio.create_task(self._write_while_waiting())
        return await answer

    async def delete(self, caller: Principal, row: dict) -> list[str]:
        """Mark the file deleted and remove the chunks no live file uses; returns those."""
        return await self._on_thread(self._delete, caller, row)

    async def _on_thread(self, work: Callable[..., T], *args) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.thread, work, *args)

    async def _write_while_waiting(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting[:MAX_GROUP], self.waiting[MAX_GROUP:]
            try:
                results = await self._on_thread(self._write_group, group)
            except Exception as error:  # the transaction failed as a whole (disk I/O)
                results = [error] * len(group)
            for waiting, result in zip(group, results, strict=True):
                if waiting.answer.done():  # the request was cancelled meanwhile
                    continue
                if isinstance(result, Exception):
                    waiting.answer.set_exception(result)
                else:
                    waiting.answer.set_result(result)

    def _write_group(self, group: list[_Waiting]) -> list[Committed | Exception]:
        results: list[Committed | Exception] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for waiting in group:
                try:
                    with self.db.atomic():  # a savepoint inside the group's transaction
                        results.append(self._add(waiting.device, waiting.commit))
                except HubError as error:
                    results.append(error)
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        return results

    def _add(self, device: Principal, commit: Commit) -> Committed:
        known = catalog.file_by_upload(self.db, device.device_id, commit.upload_id)
        if known is not None:
            if (known["sha256"], known["size"]) != (commit.offer.sha256, commit.offer.size):
                raise Conflict(f"upload_id {commit.upload_id[:80]!r} was committed with other "
                               "content; a new file version needs a new upload_id",
                               code="upload_id_reused")
            return Committed(known["id"], created=False)
        refuse_missing_chunks(self.store, commit)
        return Committed(catalog.add_file(self.db, device, commit), created=True)

    def _delete(self, caller: Principal, row: dict) -> list[str]:
        unused = catalog.delete_file(self.db, caller, row)
        for sha256 in unused:
            self.store.delete(sha256)
        return unused

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.db.close()


def refuse_missing_chunks(store: ChunkStore, commit: Commit) -> None:
    missing = [h for h in dict.fromkeys(c.sha256 for c in commit.offer.chunks)
               if not store.has(h)]
    if missing:
        raise Conflict(f"the hub lacks {len(missing)} of this file's chunks; send them first",
                       code="missing_chunks", extra={"missing": missing})
