"""Notice files the instrument PC has finished writing: inotify events plus scans.

A file is ready when it was closed after writing (IN_CLOSE_WRITE) or moved in
(IN_MOVED_TO), or seen by a scan, and then stayed unchanged (size, mtime,
inode) for `settle_seconds`. inotify is read from the asyncio loop through its
file descriptor (pyinotify's asyncore notifier is never used), watches are
recursive and follow folders created later. Scans run at start-up and every
`scan_interval_seconds`, and at once after IN_Q_OVERFLOW, so events lost to an
overflow, a restart or a USB gadget (where inotify sees nothing) are caught.

Guarantee: at least once. A file may be offered again (the spool skips it
when unchanged); a file that exists and matches the patterns is offered
within one scan interval plus the settle time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Awaitable, Callable

from edge.selection import Selection

log = logging.getLogger("kozo.edge.watcher")

Ready = Callable[[Path], Awaitable[None]]
Unchanged = Callable[[Path], bool]


def _signature(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Watcher:
    def __init__(self, selection: Selection, ready: Ready, *, settle_seconds: float = 2.0,
                 scan_interval_seconds: float = 300.0, use_inotify: bool = True,
                 is_unchanged: Unchanged | None = None) -> None:
        self.selection = selection
        self.ready = ready
        self.settle_seconds = settle_seconds
        self.scan_interval_seconds = scan_interval_seconds
        self.use_inotify = use_inotify
        self.is_unchanged = is_unchanged or (lambda path: False)
        self.settling: dict[Path, tuple[tuple, float]] = {}  # path → (signature, due)
        self.rescan = asyncio.Event()
        self.changed = asyncio.Event()
        self.notifier = None
        self.folder_scans: set[asyncio.Task] = set()

    # -- candidates -----------------------------------------------------------------

    def candidate(self, path: Path) -> None:
        """A file that may be ready: watch it settle."""
        if self.selection.relative_path(path) is None:
            return
        signature = _signature(path)
        if signature is None:
            self.settling.pop(path, None)
            return
        self.settling[path] = (signature, time.monotonic() + self.settle_seconds)
        self.changed.set()

    def find_new(self, top: Path | None = None) -> list[Path]:
        """Matching files under `top` (all folders when None) not spooled as they are now.

        Runs in a worker thread: it only reads the disk and the spool.
        """
        found = []
        for folder in [top] if top else self.selection.folders:
            for root, _, files in os.walk(folder):
                for name in files:
                    path = Path(root) / name
                    if self.selection.relative_path(path) is not None and \
                            not self.is_unchanged(path):
                        found.append(path)
        return found

    def offer(self, paths: list[Path]) -> int:
        """Start settling the paths not already settling (on the loop)."""
        fresh = [p for p in paths if p not in self.settling]
        for path in fresh:
            self.candidate(path)
        return len(fresh)

    async def settle_loop(self) -> None:
        """Hand each candidate to `ready` once it stopped changing."""
        while True:
            now = time.monotonic()
            due = [p for p, (_, t) in self.settling.items() if t <= now]
            for path in due:
                signature, _ = self.settling.pop(path)
                current = _signature(path)
                if current is None:
                    continue  # vanished: nothing to send
                if current != signature:
                    self.settling[path] = (current, now + self.settle_seconds)
                    continue
                await self.ready(path)
            self.changed.clear()
            wait = min((t for _, t in self.settling.values()), default=now + 3600) - now
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=max(wait, 0.005))
            except TimeoutError:
                pass

    async def scan_loop(self) -> None:
        while True:
            found = self.offer(await asyncio.to_thread(self.find_new))
            if found:
                log.info("scan found %d new or changed file(s)", found)
            self.rescan.clear()
            try:
                await asyncio.wait_for(self.rescan.wait(), timeout=self.scan_interval_seconds)
            except TimeoutError:
                pass

    # -- inotify --------------------------------------------------------------------

    def start_inotify(self) -> None:
        import pyinotify

        watcher = self

        class Handler(pyinotify.ProcessEvent):
            def process_IN_CLOSE_WRITE(self, event):
                watcher.candidate(Path(event.pathname))

            def process_IN_MOVED_TO(self, event):
                if event.dir:
                    watcher.scan_later(Path(event.pathname))
                else:
                    watcher.candidate(Path(event.pathname))

            def process_IN_CREATE(self, event):
                if event.dir:  # files written before its watch was added
                    watcher.scan_later(Path(event.pathname))

            def process_IN_Q_OVERFLOW(self, event):
                log.warning("inotify queue overflowed; scanning all folders")
                watcher.rescan.set()

        manager = pyinotify.WatchManager()
        mask = (pyinotify.IN_CLOSE_WRITE | pyinotify.IN_MOVED_TO | pyinotify.IN_CREATE |
                pyinotify.IN_Q_OVERFLOW)
        for folder in self.selection.folders:
            manager.add_watch(str(folder), mask, rec=True, auto_add=True, quiet=True)
        self.notifier = pyinotify.Notifier(manager, Handler(), timeout=0)
        loop = asyncio.get_running_loop()
        loop.add_reader(manager.get_fd(), self._read_events)

    def _read_events(self) -> None:
        self.notifier.read_events()
        self.notifier.process_events()

    def scan_later(self, top: Path) -> None:
        """A folder created or moved in: its files may predate its watch."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(asyncio.to_thread(self.find_new, top))
        self.folder_scans.add(task)

        def done(task: asyncio.Task) -> None:
            self.folder_scans.discard(task)
            if not task.cancelled() and task.exception() is None:
                self.offer(task.result())
        task.add_done_callback(done)

    def stop(self) -> None:
        if self.notifier is not None:
            asyncio.get_running_loop().remove_reader(self.notifier._fd)
            self.notifier.stop()
            self.notifier = None

    async def run(self) -> None:
        for folder in self.selection.folders:
            if not folder.is_dir():
                log.warning("watched folder %s does not exist (yet); it is scanned again "
                            "every %.0f s", folder, self.scan_interval_seconds)
        if self.use_inotify:
            self.start_inotify()
        try:
            await asyncio.gather(self.settle_loop(), self.scan_loop())
        finally:
            self.stop()
