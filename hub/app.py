"""The hub's aiohttp application: `create_app(config)` wires storage, routes and tasks.

Handlers live in ingest_api, data_api, model_api, server_api, proxy and web_page;
this module only builds the app: open the database and stores, add middlewares
and routes, run housekeeping (stale temporary files) in the background, and
start the notebook machinery (hub.notebook_lifetime).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator

from aiohttp import web

from hub import data_api, ingest_api, model_api, proxy, server_api, web_page
from hub.auth import delete_ended_sessions
from hub.chunk_store import LocalChunkStore
from hub.config import HubConfig
from hub.database import open_database
from hub.file_writer import FileWriter
from hub.login_throttle import LoginThrottle
from hub.http_support import json_errors
from hub.logs import request_log
from hub.metrics import HubMetrics
from hub.model_registry import ModelRegistry
from hub.notebook_lifetime import notebook_lifetime
from hub.notebooks import Notebooks
from hub.openapi import openapi_spec
from hub.state import (CHUNKS, CONFIG, DATABASE, FILE_WRITER, LOGIN_THROTTLE, METRICS, MODELS,
                       NOTEBOOKS, TOKENS, UPLOAD_SLOTS)
from hub.token_cache import TokenCache

log = logging.getLogger("kozo.hub")
STALE_TEMP_SECONDS = 3600.0  # a temporary upload older than this belongs to no live request
HOUSEKEEPING_SECONDS = 600.0
ENDED_SESSION_DAYS = 7.0  # ended web-page sessions are kept this long, then deleted
IO_THREADS = 32


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].exposition(),
                        content_type="text/plain", charset="utf-8")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_spec())


def remove_stale_temporary_files(config: HubConfig, older_than: float) -> int:
    """Delete leftovers of requests cut off by a crash; returns how many."""
    removed = 0
    cutoff = time.time() - older_than
    for path in config.temp_dir.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
        except FileNotFoundError:
            continue
    return removed


async def housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Sweep the temporary folder and ended sessions now and every HOUSEKEEPING_SECONDS."""
    config = app[CONFIG]

    def delete_sessions() -> None:  # one quick DELETE: on the loop, before serving at start
        sessions = delete_ended_sessions(app[DATABASE], ENDED_SESSION_DAYS)
        if sessions:
            log.info(f"deleted {sessions} web-page sessions ended over "
                     f"{ENDED_SESSION_DAYS:g} days ago")

    async def sweep_forever() -> None:
        while True:
            removed = await asyncio.to_thread(remove_stale_temporary_files, config,
                                              STALE_TEMP_SECONDS)
            if removed:
                log.info(f"removed {removed} stale temporary files")
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            delete_sessions()

    delete_sessions()

    task = asyncio.create_task(sweep_forever())
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def worker_threads(app: web.Application) -> AsyncIterator[None]:
    """The threads that hash, decompress and fsync for the handlers (asyncio.to_thread).

    Most of their time is spent waiting for fsync, not computing, so there are more of
    them than cores: with the default (cores + 4) fifty devices' chunk uploads queued
    behind a few fsyncs while the disk could have taken them all at once.
    """
    threads = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="kozo-hub-io")
    asyncio.get_running_loop().set_default_executor(threads)
    yield
    threads.shutdown(wait=False, cancel_futures=True)


async def close_database(app: web.Application) -> None:
    app[FILE_WRITER].close()
    app[TOKENS].close()
    app[DATABASE].close()


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_post("/api/v1/devices/enroll", ingest_api.enroll)
    app.router.add_post("/api/v1/ingest/offer", ingest_api.offer)
    app.router.add_put("/api/v1/ingest/chunks/{sha256}", ingest_api.put_chunk)
    app.router.add_post("/api/v1/ingest/commit", ingest_api.commit)
    app.router.add_post("/api/v1/ingest/commits", ingest_api.commit_many)
    app.router.add_get("/api/v1/me", data_api.whoami)
    app.router.add_get("/api/v1/files", data_api.list_files)
    app.router.add_get("/api/v1/files/{file_id}", data_api.file_details)
    app.router.add_delete("/api/v1/files/{file_id}", data_api.delete_file)
    app.router.add_get("/api/v1/files/{file_id}/content", data_api.download)
    app.router.add_get("/api/v1/files/{file_id}/predictions", data_api.file_predictions)
    app.router.add_get("/api/v1/models", model_api.list_models)
    app.router.add_post("/api/v1/models", model_api.upload_model)
    app.router.add_get("/api/v1/models/current", model_api.current_model)
    app.router.add_put("/api/v1/models/current", model_api.choose_current_model)
    app.router.add_get("/api/v1/models/{name}/{version}", model_api.model_details)
    app.router.add_get("/api/v1/models/{name}/{version}/archive", model_api.download_archive)
    app.router.add_post("/api/v1/models/{name}/{version}/predict", model_api.predict)
    server_api.add_server_routes(app)
    proxy.add_proxy_routes(app)
    web_page.add_page_routes(app)


def create_app(config: HubConfig) -> web.Application:
    """The hub, storing under config.data_dir (created if missing)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.temp_dir.mkdir(exist_ok=True)
    # Bodies are streamed by the handlers with their own limits; this only bounds
    # what aiohttp itself would buffer (forms of the web page).
    app = web.Application(middlewares=[request_log, json_errors], client_max_size=1024 * 1024)
    db = open_database(config.database_path)
    app[CONFIG] = config
    app[DATABASE] = db
    app[TOKENS] = TokenCache(config.database_path)
    app[CHUNKS] = LocalChunkStore(config.chunk_dir)
    app[FILE_WRITER] = FileWriter(config.database_path, app[CHUNKS])
    app[UPLOAD_SLOTS] = asyncio.Semaphore(config.upload_slots)
    app[MODELS] = ModelRegistry(config.model_dir, db, config.temp_dir)
    app[METRICS] = HubMetrics()
    app[model_api.PREDICTORS] = {}
    app[NOTEBOOKS] = Notebooks(db)
    app[LOGIN_THROTTLE] = LoginThrottle(config.login_failures, config.login_window_seconds)
    add_routes(app)
    app.cleanup_ctx.append(worker_threads)
    app.cleanup_ctx.append(notebook_lifetime)  # first: a bad spawner setting leaks nothing
    app.cleanup_ctx.append(housekeeping)
    app.cleanup_ctx.append(proxy.proxy_session)
    app.on_cleanup.append(close_database)
    return app
