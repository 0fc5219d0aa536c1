"""Users' notebook servers over HTTP, in the shapes JupyterHub users know.

POST starts (201 with the server when it is ready within `spawn_wait_seconds`,
else 202 with `"pending": "spawn"`), GET tells its state, DELETE stops it (204,
or 202 with `"pending": "stop"`), and `/progress` streams the start's events as
server-sent events. Only the user themself or an admin may touch a server;
another user gets 403 whether or not the name exists.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from hub import accounts
from hub.auth import Principal
from hub.errors import BadRequest, Forbidden
from hub.http_support import caller
from hub.notebooks import as_hub_error, server_model
from hub.request_bodies import read_json_object
from hub.spawners import SpawnerError, State
from hub.state import CONFIG, DATABASE, NOTEBOOKS


def may_use_server(principal: Principal, name: str) -> bool:
    """The owner (any of their user-scope tokens) or an admin."""
    return principal.scope == "admin" or (principal.scope == "user" and principal.name == name)


def owner_or_admin(request: web.Request) -> tuple[str, str]:
    """(user name, user id) of the server named in the path, if the caller may use it."""
    name = request.match_info["name"]
    principal = caller(request)
    if not may_use_server(principal, name):
        raise Forbidden(f"only {name[:64]} or an admin may use {name[:64]}'s server",
                        code="not_your_server")
    if principal.scope == "user":
        return name, principal.user_id or ""
    return name, accounts.user_id(request.app[DATABASE], name)


async def describe(request: web.Request, name: str) -> dict[str, object]:
    notebooks = request.app[NOTEBOOKS]
    status = await notebooks.status(name)
    return server_model(name, status, notebooks.pending(name), notebooks.spawner.server(name),
                        notebooks.last_activity.get(name))


async def start_server(request: web.Request) -> web.Response:
    name, user_id = owner_or_admin(request)
    profile = "default"
    if request.body_exists:
        body = await read_json_object(request, 4096)
        profile = body.get("profile", "default")
        if not isinstance(profile, str):
            raise BadRequest(f"profile must be a profile's name; got {str(profile)[:80]!r}",
                             code="unknown_profile")
    notebooks = request.app[NOTEBOOKS]
    task = notebooks.begin_start(name, user_id, profile)
    # wait, not await: a client hanging up cancels this wait, never the start
    await asyncio.wait({task}, timeout=request.app[CONFIG].spawn_wait_seconds)
    if not task.done():
        return web.json_response(await describe(request, name), status=202)
    if task.cancelled():
        return web.json_response(await describe(request, name), status=409)
    error = task.exception()
    if isinstance(error, SpawnerError):
        raise as_hub_error(error)
    if error is not None:
        raise error
    return web.json_response(await describe(request, name), status=201)


async def server_status(request: web.Request) -> web.Response:
    name, _ = owner_or_admin(request)
    return web.json_response(await describe(request, name))


async def stop_server(request: web.Request) -> web.Response:
    name, _ = owner_or_admin(request)
    notebooks = request.app[NOTEBOOKS]
    status = await notebooks.status(name)
    if status.state is State.STOPPED and notebooks.pending(name) is None:
        return web.Response(status=204)
    task = notebooks.begin_stop(name)
    await asyncio.wait({task}, timeout=request.app[CONFIG].spawn_wait_seconds)
    if not task.done():
        return web.json_response(await describe(request, name), status=202)
    task.result()
    return web.Response(status=204)


async def start_progress(request: web.Request) -> web.StreamResponse:
    """Server-sent events (`data: {json}`) of the current or last start, up to a final one."""
    name, _ = owner_or_admin(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    async for event in request.app[NOTEBOOKS].spawner.progress(name):
        await response.write(f"data: {json.dumps(event.as_json())}\n\n".encode())
    await response.write_eof()
    return response


def add_server_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/users/{name}/server", start_server)
    app.router.add_get("/api/v1/users/{name}/server", server_status)
    app.router.add_delete("/api/v1/users/{name}/server", stop_server)
    app.router.add_get("/api/v1/users/{name}/server/progress", start_progress)
