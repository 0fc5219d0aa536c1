"""Health, metrics, the OpenAPI description against the real routes, and the logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os

import pytest
from aiohttp import hdrs

from hub.app import create_app
from hub.logs import configure_logging
from tests.hub.conftest import upload

pytestmark = pytest.mark.asyncio


async def test_health_needs_no_token(hub):
    client, _ = hub
    answer = await client.get("/healthz")
    assert (answer.status, await answer.json()) == (200, {"status": "ok"})


async def test_metrics_count_requests_by_route_and_stored_chunks(hub):
    client, facility = hub
    await upload(client, facility.auth("xrd"), os.urandom(20000), "m.raw")
    text = await (await client.get("/metrics")).text()
    assert 'kozo_hub_requests_total{method="POST",route="/api/v1/ingest/commit",' \
           'status="201"} 1.0' in text
    assert "kozo_hub_chunks_stored_total 2.0" in text
    assert "kozo_hub_files_committed_total 1.0" in text


async def test_the_openapi_description_matches_the_routes_exactly(hub):
    client, _ = hub
    spec = await (await client.get("/api/v1/openapi.json")).json()
    documented = {(method.upper(), path) for path, operations in spec["paths"].items()
                  for method in operations}
    served = {(route.method, route.resource.canonical)
              for route in client.server.app.router.routes()
              if route.method not in (hdrs.METH_HEAD, hdrs.METH_ANY)}
    assert documented == served


async def test_logs_are_json_lines_and_never_hold_secrets(hub, aiohttp_client):
    client, facility = hub
    stream = io.StringIO()
    writer = configure_logging("INFO", stream)
    try:
        await client.get("/api/v1/me", headers=facility.auth("alice"))
        await client.get("/api/v1/me", headers={"Authorization": "Bearer kozo_usr_guessed"})
        await client.get(f"/api/v1/files?token={facility.tokens['bob']}",
                         headers=facility.auth("bob"))
        await client.post("/api/v1/devices/enroll",
                          json={"code": "SECRET-CODE-NOT-VALID", "name": "pi"})
        logged_in = await client.post("/login", allow_redirects=False,
                                      data={"name": "alice", "password": "alice-password"})
        session = logged_in.cookies["kozo_session"].value
        await client.get("/", cookies={"kozo_session": session})
        await client.post("/login", data={"name": "alice", "password": "wrong-password-x"})
    finally:
        writer.stop()
        logging.getLogger("kozo").handlers.clear()
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len([entry for entry in lines if entry["message"] == "request"]) >= 6
    assert {"route", "status", "method"} <= set(lines[0])
    assert {(e["route"], e["status"]) for e in lines if e["message"] == "request"} >= {
        ("/api/v1/me", 200), ("/api/v1/me", 401), ("/login", 303), ("/login", 401), ("/", 200)}
    secrets = [*facility.tokens.values(), session, "kozo_usr_guessed", "SECRET-CODE-NOT-VALID",
               "alice-password", "wrong-password-x"]
    for secret in secrets:
        assert secret not in text


async def test_leftovers_of_a_crash_are_swept_at_start_and_live_uploads_are_kept(
        facility, aiohttp_client):
    temp = facility.config.temp_dir
    temp.mkdir(parents=True, exist_ok=True)
    old, young = temp / "chunk-from-a-crash.zst", temp / "chunk-in-flight.zst"
    old.write_bytes(b"half a chunk")
    young.write_bytes(b"being written")
    os.utime(old, (0, 0))
    await aiohttp_client(create_app(facility.config))
    for _ in range(100):  # the sweep runs as a background task
        if not old.exists():
            break
        await asyncio.sleep(0.02)
    assert not old.exists()
    assert young.exists()


async def test_a_logged_failure_keeps_its_traceback_and_fields():
    stream = io.StringIO()
    writer = configure_logging("INFO", stream)
    try:
        try:
            {}["missing-key"]
        except KeyError:
            logging.getLogger("kozo.hub").exception("unexpected error",
                                                    extra={"route": "/api/v1/files"})
    finally:
        writer.stop()
        logging.getLogger("kozo").handlers.clear()
    [entry] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["message"] == "unexpected error" and entry["level"] == "ERROR"
    assert entry["route"] == "/api/v1/files"
    assert "KeyError: 'missing-key'" in entry["exception"]
