"""The default spawner: one `jupyter server` process per user on this machine.

Each server listens on its own free loopback port with its own random token,
serves under `/user/<name>/` (so the hub can proxy it), and works in its own
directory under `root_dir` (its Jupyter runtime files, cookie secret included,
under `root_dir/.runtime/<slug>`). Its output goes to `root_dir/.logs/<slug>.log`,
whose tail is shown when a start fails. Servers run in their own session, so
they outlive a hub restart; `reconcile` then adopts those that still answer
(from the state file) and kills or forgets the rest.

The token reaches the server as JUPYTER_TOKEN in its environment rather than
as `--IdentityProvider.token=...`: a command line is visible to every local
user through `ps`, a process's environment only to its owner.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from hub.spawners.base import Report, ServerInfo, Spawner
from hub.spawners.errors import SpawnFailed
from hub.spawners.profiles import Profile
from hub.spawners.slugs import user_base_url, user_slug
from hub.spawners.state_file import StateFile
from kozo.ports import free_loopback_port

DEFAULT_COMMAND = (sys.executable, "-m", "jupyter_server")
LOG_TAIL_LINES = 15


def pid_alive(pid: int) -> bool:
    """True if process `pid` exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def server_log_path(root_dir: Path, user: str) -> Path:
    """Where `user`'s server writes its stdout and stderr, under the spawner's root_dir."""
    return Path(root_dir) / ".logs" / f"{user_slug(user)}.log"


class LocalSpawner(Spawner):
    """Jupyter servers as local processes, one per user."""

    def __init__(self, *, root_dir: Path, hub_url: str, state_file: Path | None = None,
                 start_timeout: float = 60.0, stop_timeout: float = 5.0,
                 poll_interval: float = 0.25, host: str = "127.0.0.1",
                 command: Sequence[str] = DEFAULT_COMMAND, extra_args: Sequence[str] = (),
                 **kwargs: object) -> None:
        """root_dir: users' working directories are `root_dir/<slug>`.
        state_file: JSON record of running servers (default `root_dir/.servers.json`).
        start_timeout: seconds to wait for a new server to answer `/api/status`.
        stop_timeout: seconds between SIGTERM and SIGKILL on stop.
        poll_interval: seconds between readiness checks.
        command: how to run Jupyter Server; extra_args are appended to its options.
        """
        super().__init__(hub_url=hub_url, start_timeout=start_timeout,
                         stop_timeout=stop_timeout, **kwargs)  # type: ignore[arg-type]
        self.root_dir = Path(root_dir)
        self.state = StateFile(state_file or self.root_dir / ".servers.json")
        self.poll_interval = poll_interval
        self.host = host
        self.command = list(command)
        self.extra_args = list(extra_args)
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._pids: dict[str, int] = {}

    def work_dir(self, user: str) -> Path:
        """Where `user`'s server starts and keeps their notebooks."""
        return self.root_dir / user_slug(user)

    def log_path(self, user: str) -> Path:
        """The server's stdout and stderr."""
        return server_log_path(self.root_dir, user)

    def _arguments(self, user: str, port: int) -> list[str]:
        args = [*self.command, "--no-browser", f"--ServerApp.ip={self.host}",
                f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                f"--ServerApp.base_url={user_base_url(user)}",
                f"--ServerApp.root_dir={self.work_dir(user)}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")  # Jupyter refuses to run as root without it
        return args + self.extra_args

    async def _launch(self, user: str, profile: Profile, env: dict[str, str],
                      report: Report) -> ServerInfo:
        work_dir, log_path = self.work_dir(user), self.log_path(user)
        work_dir.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        port, token = free_loopback_port(self.host), secrets.token_urlsafe(32)
        with log_path.open("ab") as log:
            log.write(f"--- kozo: starting {user}'s server on port {port}, {time.ctime()}\n".encode())
            log_start = log.tell()
            proc = await asyncio.create_subprocess_exec(
                *self._arguments(user, port), cwd=work_dir,
                env={**os.environ, **env, "JUPYTER_TOKEN": token,
                     "JUPYTER_RUNTIME_DIR": str(self.root_dir / ".runtime" / user_slug(user))},
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True)
        self._procs[user], self._pids[user] = proc, proc.pid
        report(30, f"Jupyter Server started (pid {proc.pid}); waiting for it to answer")
        url = f"http://{self.host}:{port}{user_base_url(user)}"
        async with aiohttp.ClientSession() as http:
            while not await self._answers(http, url, token):
                if proc.returncode is not None:
                    raise SpawnFailed(f"{user}'s Jupyter server exited with code {proc.returncode} "
                                      f"before it was ready. Last lines of its log:\n"
                                      f"{self._log_tail(log_path, log_start)}")
                await asyncio.sleep(self.poll_interval)
        self.state.put(user, {"pid": proc.pid, "port": port, "token": token, "url": url,
                              "profile": profile.name, "log": str(log_path)})
        return ServerInfo(user=user, url=url, token=token, profile=profile.name)

    @staticmethod
    async def _answers(http: aiohttp.ClientSession, url: str, token: str) -> bool:
        try:
            async with http.get(url + "api/status", headers={"Authorization": f"token {token}"},
                                timeout=aiohttp.ClientTimeout(total=2)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    @staticmethod
    def _log_tail(path: Path, start: int = 0) -> str:
        with path.open("rb") as log:
            log.seek(max(start, path.stat().st_size - 8192))
            lines = log.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "(the log is empty)"

    async def _check(self, info: ServerInfo) -> str | None:
        proc = self._procs.get(info.user)
        if proc is not None:
            if proc.returncode is None:
                return None
            return (f"{info.user}'s server exited with code {proc.returncode}. Last lines of its "
                    f"log:\n{self._log_tail(self.log_path(info.user))}")
        pid = self._pids.get(info.user)
        if pid is not None and pid_alive(pid):
            return None
        return f"{info.user}'s server (pid {pid}) is no longer running"

    async def _teardown(self, user: str) -> None:
        proc = self._procs.pop(user, None)
        pid = self._pids.pop(user, None)
        if pid is None:  # started before a restart and not reconciled yet
            record = self.state.load().get(user)
            if record is not None and self._is_our_server(int(record["pid"]), int(record["port"])):
                pid = int(record["pid"])
        if pid is not None:
            await self._terminate(pid, proc)
        self.state.remove(user)

    @staticmethod
    def _is_our_server(pid: int, port: int) -> bool:
        """True if `pid` runs and is the server we started on `port` (not a reused pid)."""
        return pid_alive(pid) and f"--ServerApp.port={port}" in _cmdline(pid)

    async def _terminate(self, pid: int, proc: asyncio.subprocess.Process | None) -> None:
        """SIGTERM to the server's process group; SIGKILL after `stop_timeout` seconds."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline:
                if proc is not None and proc.returncode is not None:
                    break
                if proc is None and not pid_alive(pid):
                    break
                await asyncio.sleep(0.05)
            else:
                continue
            if proc is not None:
                await proc.wait()
            return

    async def _reconcile(self, active: set[str]) -> tuple[list[ServerInfo], list[str]]:
        adopted: list[ServerInfo] = []
        removed: list[str] = []
        records = self.state.load()
        kept = {user: record for user, record in records.items() if user in active}
        async with aiohttp.ClientSession() as http:
            for user, record in records.items():
                if user in active:
                    continue
                pid, port = int(record["pid"]), int(record["port"])
                ours = self._is_our_server(pid, port)
                if ours and await self._answers(http, record["url"], record["token"]):
                    self._pids[user] = pid
                    kept[user] = record
                    adopted.append(ServerInfo(user=user, url=record["url"], token=record["token"],
                                              profile=record.get("profile", "default")))
                    continue
                if ours:
                    await self._terminate(pid, None)
                    removed.append(f"pid {pid} ({user}, not answering; killed)")
                else:
                    removed.append(f"pid {pid} ({user}, gone)")
        self.state.save(kept)
        return adopted, removed
