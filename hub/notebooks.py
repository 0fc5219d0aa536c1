"""Users' notebook servers as the hub sees them: start, stop, tokens and last activity.

The spawner (hub/spawners) runs the servers; this module decides when, on whose
behalf, and with which hub token. Each server gets a fresh user-scope token
(KOZO_HUB_TOKEN), revoked when the server stops or is found gone after a hub
restart. Starts and stops run in their own tasks, so a client that hangs up
cancels only its wait, never the start.

Guarantees: one live server token per user (recorded in the settings table, so a
restarted hub can revoke the tokens of servers that did not survive); a server the
hub stops or culls has its token revoked before the call returns.
"""

from __future__ import annotations

import asyncio
import logging
import time

import sqlite_utils

from hub.auth import issue_token, revoke_token
from hub.database import record_audit
from hub.errors import BadGateway, BadRequest, Conflict, GatewayTimeout, HubError, NotFound
from hub.spawners import (Reconciled, ServerBusy, ServerInfo, Spawner, SpawnFailed, SpawnTimeout,
                          State, Status, UnknownProfile, get_profile)

log = logging.getLogger("kozo.hub")
TOKEN_SETTING = "notebook_token:"  # + user name → the id of the server's hub token


def as_hub_error(error: Exception) -> HubError:
    """A spawner failure as the JSON error the API answers (the message is for the user)."""
    if isinstance(error, SpawnTimeout):
        return GatewayTimeout(str(error), code="spawn_timeout")
    if isinstance(error, SpawnFailed):
        return BadGateway(str(error), code="spawn_failed")
    if isinstance(error, ServerBusy):
        return Conflict(str(error), code="server_busy")
    if isinstance(error, UnknownProfile):
        return BadRequest(str(error), code="unknown_profile")
    raise error


class Notebooks:
    """One per hub: the spawner plus what the hub adds (tokens, tasks, activity)."""

    def __init__(self, db: sqlite_utils.Database, spawner: Spawner | None = None) -> None:
        """spawner: set here or by hub.notebook_lifetime when the app starts."""
        self._spawner = spawner
        self.db = db
        self.last_activity: dict[str, float] = {}  # user → time.time() of the last traffic
        self._starts: dict[str, asyncio.Task[ServerInfo]] = {}
        self._stops: dict[str, asyncio.Task[None]] = {}

    @property
    def spawner(self) -> Spawner:
        if self._spawner is None:
            raise RuntimeError("the spawner is created when the app starts")
        return self._spawner

    @spawner.setter
    def spawner(self, spawner: Spawner) -> None:
        self._spawner = spawner

    # ---- what the API calls ----------------------------------------------------------

    def begin_start(self, user: str, user_id: str, profile: str) -> asyncio.Task[ServerInfo]:
        """The start task for `user` (a new one, or the one under way)."""
        under_way = self._starts.get(user)
        if under_way is not None and not under_way.done():
            return under_way
        if user in self._stops and not self._stops[user].done():
            raise as_hub_error(ServerBusy(f"{user}'s server is stopping; start it again "
                                          "once it has stopped"))
        try:
            get_profile(profile, self.spawner.profiles)  # refused before anything happens
        except UnknownProfile as error:
            raise as_hub_error(error) from None
        task = asyncio.create_task(self._start(user, user_id, profile), name=f"start {user}")
        task.add_done_callback(_log_failure)
        self._starts[user] = task
        return task

    def begin_stop(self, user: str) -> asyncio.Task[None]:
        """The stop task for `user` (a start under way is cancelled first)."""
        under_way = self._stops.get(user)
        if under_way is not None and not under_way.done():
            return under_way
        task = asyncio.create_task(self._stop(user), name=f"stop {user}")
        task.add_done_callback(_log_failure)
        self._stops[user] = task
        return task

    def pending(self, user: str) -> str | None:
        """"spawn" or "stop" while one is under way (JupyterHub's `pending`), else None."""
        if user in self._starts and not self._starts[user].done():
            return "spawn"
        if user in self._stops and not self._stops[user].done():
            return "stop"
        return None

    async def status(self, user: str) -> Status:
        return await self.spawner.poll(user)

    def touch(self, user: str) -> None:
        """Record traffic to `user`'s server (it is not idle)."""
        self.last_activity[user] = time.time()

    # ---- lifecycle -------------------------------------------------------------------

    async def _start(self, user: str, user_id: str, profile: str) -> ServerInfo:
        running = self.spawner.server(user)
        if running is not None and (await self.spawner.poll(user)).state is State.RUNNING:
            return running  # keeps its token: a new one would lock the running server out
        token_id, secret = self._new_server_token(user, user_id)
        try:
            info = await self.spawner.start(user, profile, hub_token=secret)
        except BaseException:
            self._revoke_server_token(user, token_id)
            raise
        self.touch(user)
        record_audit(self.db, user_id, "server.start", user, profile=info.profile)
        return info

    async def _stop(self, user: str) -> None:
        start = self._starts.get(user)
        if start is not None and not start.done():
            start.cancel()
            await asyncio.gather(start, return_exceptions=True)
        await self.spawner.stop(user)
        self._revoke_server_token(user)
        self.last_activity.pop(user, None)

    async def adopt_or_clean(self) -> Reconciled:
        """After a restart: adopt servers that survived, revoke tokens of those that did not."""
        found = await self.spawner.reconcile()
        for user in found.adopted:
            self.touch(user)  # idle time counts from now: we do not know the last traffic
        for row in self.db.query("SELECT key FROM settings WHERE key LIKE ?",
                                 [TOKEN_SETTING + "%"]):
            user = row["key"][len(TOKEN_SETTING):]
            if user not in found.adopted:
                self._revoke_server_token(user)
        return found

    async def cull_idle(self, idle_seconds: float) -> list[str]:
        """Stop every running server without traffic for `idle_seconds`; returns the users."""
        cutoff = time.time() - idle_seconds
        idle = [user for user, seen in list(self.last_activity.items())
                if seen < cutoff and self.spawner.server(user) is not None
                and self.pending(user) is None]
        for user in idle:
            log.info(f"stopping {user}'s server: idle for more than {idle_seconds:g} seconds")
            await self.begin_stop(user)
        return idle

    async def close(self) -> None:
        """Hub shutdown: cancel starts under way (they clean up); running servers stay up."""
        tasks = [t for t in (*self._starts.values(), *self._stops.values()) if not t.done()]
        for task in self._starts.values():
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- the servers' hub tokens -------------------------------------------------------

    def _new_server_token(self, user: str, user_id: str) -> tuple[str, str]:
        self._revoke_server_token(user)
        with self.db.atomic():
            # user scope even for an admin: a notebook reads its owner's projects, no more
            token_id, secret = issue_token(self.db, "user", user_id=user_id)
            self.db["settings"].upsert({"key": TOKEN_SETTING + user, "value": token_id},
                                       pk="key")
        return token_id, secret

    def _revoke_server_token(self, user: str, token_id: str | None = None) -> None:
        rows = list(self.db.query("SELECT value FROM settings WHERE key = ?",
                                  [TOKEN_SETTING + user]))
        recorded = rows[0]["value"] if rows else None
        for token in {token_id, recorded} - {None}:
            try:
                revoke_token(self.db, token)
            except NotFound:
                pass
        if recorded is not None and token_id in (None, recorded):
            self.db.execute("DELETE FROM settings WHERE key = ?", [TOKEN_SETTING + user])


def _log_failure(task: asyncio.Task) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, (SpawnFailed, ServerBusy)):
        log.error(f"{task.get_name()} failed", exc_info=error)


def server_model(user: str, status: Status, pending: str | None,
                 info: ServerInfo | None, last_activity: float | None) -> dict[str, object]:
    """A server as the API shows it (JupyterHub's fields where they exist); never its token."""
    ready = status.state is State.RUNNING and info is not None
    return {"name": user, "state": status.state.value, "message": status.message,
            "ready": ready, "pending": pending,
            "url": info.url[info.url.index("/user/"):] if ready and info else None,
            "profile": info.profile if info else None,
            "progress_url": f"/api/v1/users/{user}/server/progress",
            "last_activity": last_activity}
