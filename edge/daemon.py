"""The edge daemon: watcher → spool → sync on one asyncio loop, plus its status.

It owns no data guarantees of its own: those are the spool's (durable before a
state advances, nothing unacknowledged deleted) and the sync's (exactly once
at the hub). Here files are routed between them: a file that changed while
read goes back to settling, one that meets a full spool waits at its source
and is looked for again after the hub acknowledges something.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from edge.config import EdgeConfig
from edge.credential import read_credential
from edge.errors import ConfigError, SourceChanged, SpoolFull
from edge.fsck import FsckReport, open_spool, repair_corrupt
from edge.hub_client import HubClient
from edge.model_updates import follow_hub_model
from edge.quick_check import QuickCheck
from edge.selection import Selection
from edge.spool import Entry, Spool
from edge.status import status_app
from edge.sync import Syncer
from edge.throttle import BandwidthLimit
from edge.watcher import Watcher

log = logging.getLogger("kozo.edge")

INGEST_BATCH = 64  # ready files spooled with one filesystem sync


def quick_check_for(config: EdgeConfig) -> QuickCheck | None:
    """None when off; an empty check for "hub" (filled by model updates); else loaded."""
    choice = config.quick_check_model
    if choice == "off":
        return None
    if choice == "hub":
        return QuickCheck()
    from model.pretrained import resolve_model

    return QuickCheck(resolve_model(choice))


class EdgeDaemon:
    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.spool: Spool | None = None
        self.syncer: Syncer | None = None
        self.watcher: Watcher | None = None
        self.check: QuickCheck | None = None
        self.spool_full: str | None = None
        self.errors: deque[dict] = deque(maxlen=20)
        self.queue: asyncio.Queue[Path] = asyncio.Queue()
        self.queued: set[Path] = set()
        self.stopping = asyncio.Event()

    def _note(self, message: str) -> None:
        self.errors.append({"time": time.time(), "error": message})

    async def enqueue(self, path: Path) -> None:
        if path not in self.queued:
            self.queued.add(path)
            self.queue.put_nowait(path)

    async def ingest_loop(self) -> None:
        """Spool ready files in batches: one filesystem sync and one commit per batch."""
        while True:
            paths = [await self.queue.get()]
            while not self.queue.empty() and len(paths) < INGEST_BATCH:
                paths.append(self.queue.get_nowait())
            self.queued.difference_update(paths)
            batch = [(p, r) for p in paths
                     if (r := self.watcher.selection.relative_path(p)) is not None]
            try:
                results = await asyncio.to_thread(self.spool.ingest_batch, batch,
                                                  check=self.check, metadata={})
            except OSError as error:  # the spool's own disk failed: try the batch later
                log.error("spooling failed (%s); retrying in 5 s", error)
                self._note(f"spool: {error}")
                await asyncio.sleep(5)
                for path, _ in batch:
                    self.watcher.candidate(path)
                continue
            spooled = False
            for (path, _), result in zip(batch, results, strict=True):
                spooled |= self._report_ingest(path, result)
            if spooled:
                self.syncer.wake.set()

    def _report_ingest(self, path: Path, result: Entry | None | Exception) -> bool:
        if isinstance(result, Entry):
            log.info("spooled %r (%d bytes, %d chunk(s))", result.path, result.size,
                     len(result.chunks))
            return True
        if isinstance(result, SourceChanged):
            log.info("%s; waiting for it to settle again", result)
            self.watcher.candidate(path)  # drops it if it is gone
        elif isinstance(result, SpoolFull):
            if self.spool_full is None:
                log.warning("%s", result)
                self._note(str(result))
            self.spool_full = str(result)
        elif isinstance(result, OSError):
            log.error("%s: cannot be read (%s); tried again at the next scan", path,
                      result.strerror)
            self._note(f"{path}: {result.strerror}")
        return False

    def acknowledged(self, entry: Entry) -> None:
        if self.spool_full is not None:
            self.spool_full = None
            log.info("spool has room again; looking for files that waited")
            self.watcher.rescan.set()

    async def repair_loop(self) -> None:
        """Corrupt entries (found at start-up or by the hub) are re-read from their source."""
        while True:
            report = FsckReport()
            await asyncio.to_thread(repair_corrupt, self.spool, report, self.check)
            for line in report.problems:
                log.warning("spool: %s", line)
            if report.repaired:
                self.syncer.wake.set()
            await asyncio.sleep(min(self.config.scan_interval_seconds, 60.0))

    async def status(self) -> dict[str, Any]:
        status = await asyncio.to_thread(self.spool.status)
        status.update({
            "running": True, "spool_full": self.spool_full,
            "last_sync": self.syncer.last_sync if self.syncer else None,
            "hub_reachable": self.syncer.hub_reachable if self.syncer else None,
            "recent_errors": list(self.errors) + list(self.syncer.errors if self.syncer else []),
            "model": str(self.check.artifact) if self.check and self.check.artifact else None,
            "queued": self.queue.qsize(), "settling": len(self.watcher.settling),
        })
        status["recent_errors"].sort(key=lambda e: e["time"])
        return status

    async def run(self) -> None:
        config = self.config
        credential = read_credential(config.credential)
        hub_url = config.hub_url or credential.get("hub")
        if not hub_url:
            raise ConfigError(f"{config.source}: [hub] url is missing and the credential "
                              "names no hub")
        self.spool = await asyncio.to_thread(open_spool, config.spool_directory,
                                             cap_bytes=config.cap_bytes,
                                             zstd_level=config.zstd_level)
        self.check = await asyncio.to_thread(quick_check_for, config)
        limit = BandwidthLimit(config.bandwidth_limit) if config.bandwidth_limit > 0 else None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        runner = None
        async with aiohttp.ClientSession() as session:
            client = HubClient(session, hub_url, credential["token"], limit=limit)
            self.syncer = Syncer(self.spool, client, concurrency=config.concurrency,
                                 retry_max_seconds=config.retry_max_seconds,
                                 metadata={**config.metadata, "edge": socket.gethostname()},
                                 on_acknowledged=self.acknowledged)
            self.watcher = Watcher(Selection(config.folders, config.include, config.exclude),
                                   self.enqueue, settle_seconds=config.settle_seconds,
                                   scan_interval_seconds=config.scan_interval_seconds,
                                   use_inotify=config.mode == "watch",
                                   is_unchanged=self.spool.is_unchanged)
            tasks = [asyncio.create_task(c) for c in (
                self.watcher.run(), self.ingest_loop(), self.syncer.run(), self.repair_loop())]
            if config.quick_check_model == "hub":
                tasks.append(asyncio.create_task(follow_hub_model(
                    client, config.spool_directory / "models", self.check,
                    config.model_poll_seconds)))
            if config.status_port:
                runner = web.AppRunner(status_app(self.status), access_log=None)
                await runner.setup()
                try:
                    await web.TCPSite(runner, "127.0.0.1", config.status_port).start()
                except OSError as error:
                    log.warning("status endpoint on 127.0.0.1:%d unavailable (%s)",
                                config.status_port, error.strerror)
            log.info("watching %s (%s mode), syncing to %s",
                     ", ".join(map(str, config.folders)), config.mode, hub_url)
            stop = asyncio.create_task(self.stopping.wait())
            done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in [stop, *tasks]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if runner is not None:
                await runner.cleanup()
            for task in done:
                if task is not stop and not task.cancelled() and task.exception():
                    raise task.exception()
        self.spool.close()
        log.info("stopped")
