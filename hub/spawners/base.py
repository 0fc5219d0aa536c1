"""The lifecycle every notebook spawner follows, so the hub treats them all alike.

What `poll(user)` returns, before, during and after `start`:

    never started, or stopped      STOPPED
    while `start` runs             STARTING  (progress events flow)
    after `start` returned         RUNNING   until the server dies, then FAILED with why
    after `start` raised           FAILED    with a message for the user; nothing left running
    while `stop` runs              STOPPING

Guarantees: a failed or timed-out start removes what it created (a Kubernetes
home volume excepted), so a new start begins clean; `stop` on a stopped server
does nothing; one start or stop per user at a time (a second start raises
ServerBusy, a stop waits for the start in flight to end).
"""

from __future__ import annotations

import asyncio
import enum
import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from hub.spawners.errors import ServerBusy, SpawnFailed, SpawnTimeout
from hub.spawners.profiles import PROFILES, Profile, get_profile


class State(enum.Enum):
    """Where a user's notebook server is in its lifecycle."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FAILED = "failed"


@dataclass(frozen=True)
class Status:
    """A state, and for FAILED (or progress) a sentence the user can act on."""

    state: State
    message: str = ""


@dataclass(frozen=True)
class ServerInfo:
    """How the hub reaches a running server.

    `url` ends in `/user/<name>/`: the hub proxies `/user/<name>/...` to
    `url + ...` and sends `Authorization: token <token>`.
    """

    user: str
    url: str
    token: str
    profile: str
    state: State = State.RUNNING


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a start, as the hub's server-sent-events endpoint relays it."""

    progress: int  # percent, 0..100
    message: str
    state: State

    @property
    def final(self) -> bool:
        """True for the last event of a start: ready, failed or stopped."""
        return self.state in (State.RUNNING, State.FAILED, State.STOPPED)

    def as_json(self) -> dict[str, object]:
        """The SSE `data:` payload (JupyterHub's shape: progress, message, ready, failed)."""
        return {"progress": self.progress, "message": self.message, "state": self.state.value,
                "ready": self.state is State.RUNNING, "failed": self.state is State.FAILED}


@dataclass(frozen=True)
class Reconciled:
    """What `reconcile` found: servers taken over, and leftovers it removed."""

    adopted: tuple[str, ...]  # user names
    removed: tuple[str, ...]  # what was removed, e.g. "pod/kozo-nb-bob" or "pid 1234 (bob)"


Report = Callable[[int, str], None]  # report(percent, message) during a launch


@dataclass
class _Server:
    status: Status = field(default_factory=lambda: Status(State.STOPPED))
    info: ServerInfo | None = None
    events: list[ProgressEvent] = field(default_factory=list)
    new_event: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _positive_seconds(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of seconds; got {value!r}")
    return float(value)


class Spawner(ABC):
    """Starts, watches and stops one notebook server per user.

    Subclasses implement `_launch`, `_check`, `_teardown` and `_reconcile`;
    this class keeps the states, timeouts and progress events.
    """

    def __init__(self, *, hub_url: str, start_timeout: float = 120.0, stop_timeout: float = 10.0,
                 profiles: dict[str, Profile] = PROFILES) -> None:
        """hub_url: the hub's URL as the user's server sees it (KOZO_HUB_URL).
        start_timeout: seconds to wait for a new server to answer before giving up.
        stop_timeout: seconds a server is given to shut down before it is killed.
        """
        self.hub_url = hub_url
        self.start_timeout = _positive_seconds("start_timeout", start_timeout)
        self.stop_timeout = _positive_seconds("stop_timeout", stop_timeout)
        self.profiles = profiles
        self._servers: dict[str, _Server] = {}

    # ---- the interface the hub calls -------------------------------------------------

    async def start(self, user: str, profile: str | Profile = "default", *,
                    hub_token: str) -> ServerInfo:
        """Start `user`'s server and return once it answers; RUNNING servers are returned as they are.

        hub_token: a token scoped to this user, given to the server as KOZO_HUB_TOKEN.
        Raises SpawnFailed (or SpawnTimeout) with a message for the user, ServerBusy
        if a start or stop is under way, UnknownProfile for a bad profile name.
        The hub should run this in its own task and relay `progress(user)`.
        """
        chosen = get_profile(profile, self.profiles)
        server = self._servers.setdefault(user, _Server())
        if server.lock.locked():
            raise ServerBusy(f"{user}'s server is already {server.status.state.value}; "
                             "wait for it to finish")
        async with server.lock:
            if server.status.state is State.RUNNING and server.info is not None:
                if await self._check(server.info) is None:
                    return server.info
                await self._teardown(user)
            server.events = []
            self._set(server, State.STARTING, 0, f"Starting {user}'s server ({chosen.name})")

            def report(percent: int, message: str) -> None:
                # progress never goes backwards, even when the pod's state does
                percent = min(99, max(percent, server.events[-1].progress))
                self._set(server, State.STARTING, percent, message)

            try:
                async with asyncio.timeout(self.start_timeout):
                    info = await self._launch(user, chosen, self.server_env(user, hub_token), report)
            except TimeoutError:
                last = server.events[-1].message
                error: SpawnFailed = SpawnTimeout(
                    f"{user}'s server did not become ready within {self.start_timeout:g} seconds "
                    f"(last step: {last}); try again, or ask the facility staff if it keeps happening")
            except SpawnFailed as failed:
                error = failed
            except BaseException as unexpected:
                await asyncio.shield(self._teardown(user))
                self._set(server, State.FAILED, 100, f"{user}'s server could not be started "
                          f"({type(unexpected).__name__}: {unexpected})")
                raise
            else:
                server.info = info
                self._set(server, State.RUNNING, 100, f"{user}'s server is ready")
                return info
            await self._teardown(user)
            self._set(server, State.FAILED, 100, str(error))
            raise error

    async def poll(self, user: str) -> Status:
        """The server's state now; a RUNNING server that died becomes FAILED, saying why."""
        server = self._servers.get(user)
        if server is None:
            return Status(State.STOPPED)
        if server.status.state is State.RUNNING and server.info is not None:
            died = await self._check(server.info)
            if died is not None and server.status.state is State.RUNNING:
                server.status = Status(State.FAILED, died)
        return server.status

    def server(self, user: str) -> ServerInfo | None:
        """How to reach `user`'s server if it is RUNNING (also after `reconcile` adopted it)."""
        server = self._servers.get(user)
        if server is None or server.status.state is not State.RUNNING:
            return None
        return server.info

    async def stop(self, user: str) -> None:
        """Stop `user`'s server (terminate, then kill after `stop_timeout` seconds); STOPPED after."""
        server = self._servers.setdefault(user, _Server())
        async with server.lock:
            if server.status.state is not State.STOPPED:
                server.status = Status(State.STOPPING, f"Stopping {user}'s server")
            await self._teardown(user)
            server.info = None
            server.events = []
            self._set(server, State.STOPPED, 100, f"{user}'s server is stopped")

    async def reconcile(self) -> Reconciled:
        """After a hub restart: adopt the servers still running, remove the leftovers."""
        active = {user for user, s in self._servers.items()
                  if s.lock.locked() or s.status.state in (State.RUNNING, State.STARTING)}
        adopted, removed = await self._reconcile(active)
        for info in adopted:
            server = self._servers.setdefault(info.user, _Server())
            server.info = info
            server.status = Status(State.RUNNING, "adopted after a hub restart")
        return Reconciled(tuple(info.user for info in adopted), tuple(removed))

    async def progress(self, user: str) -> AsyncIterator[ProgressEvent]:
        """Events of the current (or last) start, from its beginning, ending with a final one.

        With no start on record, yields one event for the current state.
        """
        server = self._servers.get(user)
        if server is None or not server.events:
            status = await self.poll(user)
            yield ProgressEvent(100 if status.state is not State.STARTING else 0,
                                status.message or f"{user}'s server is {status.state.value}",
                                status.state)
            return
        events, seen = server.events, 0
        while True:
            wakeup = server.new_event
            if seen == len(events):
                await wakeup.wait()
                continue
            event = events[seen]
            seen += 1
            yield event
            if event.final:
                return

    def server_env(self, user: str, hub_token: str) -> dict[str, str]:
        """Variables the user's server gets, read by kozo's client library."""
        return {"KOZO_HUB_URL": self.hub_url, "KOZO_HUB_TOKEN": hub_token, "KOZO_USER": user}

    # ---- what a subclass provides --------------------------------------------------

    @abstractmethod
    async def _launch(self, user: str, profile: Profile, env: dict[str, str],
                      report: Report) -> ServerInfo:
        """Create the server and wait until it answers; raise SpawnFailed saying why not.

        Cancelled (by the start timeout) when it takes too long; `_teardown` follows.
        """

    @abstractmethod
    async def _check(self, info: ServerInfo) -> str | None:
        """None if the running server is alive, else a sentence saying what happened."""

    @abstractmethod
    async def _teardown(self, user: str) -> None:
        """Remove the user's server (not their files); nothing to remove is fine."""

    @abstractmethod
    async def _reconcile(self, active: set[str]) -> tuple[list[ServerInfo], list[str]]:
        """Find servers left from before a restart: return (adopted, removed descriptions).

        Leave the servers of users in `active` alone: this hub is using them.
        """

    # ---- internals -------------------------------------------------------------------

    @staticmethod
    def _set(server: _Server, state: State, percent: int, message: str) -> None:
        server.status = Status(state, message)
        server.events.append(ProgressEvent(percent, message, state))
        wakeup, server.new_event = server.new_event, asyncio.Event()
        wakeup.set()
