"""Schemathesis fuzzes every documented operation from the hub's own OpenAPI description.

The real hub runs on loopback in a thread; generated requests carry real tokens
(a device token for ingest, an admin token elsewhere) so they reach the handlers.
Bounded: a few examples per operation, derandomized (see tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import (not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from hub import accounts
from hub.app import create_app
from hub.auth import issue_token
from hub.config import HubConfig
from hub.database import open_database
from hub.openapi import openapi_spec

schemathesis.serializer.alias(["application/zstd", "application/zip"],
                              "application/octet-stream")
schema = schemathesis.openapi.from_dict(openapi_spec())


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory):
    """(base URL, admin token, device token) of a hub served from a thread."""
    config = HubConfig(data_dir=Path(tmp_path_factory.mktemp("fuzz")), max_chunk_bytes=65536,
                       max_compressed_chunk_bytes=80000, max_json_bytes=65536)
    db = open_database(config.database_path)
    root = accounts.add_user(db, "root", admin=True)
    accounts.add_instrument(db, "xrd-1")
    admin_token = issue_token(db, "admin", user_id=root, days=1)[1]
    code, _ = accounts.new_enrolment_code(db, "xrd-1", hours=1)
    device_token = accounts.enroll_device(db, code, "pi", 0)["token"]
    db.close()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(config))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", admin_token, device_token
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_breaks_the_hub_or_its_description(case, live_hub):
    base_url, admin_token, device_token = live_hub
    token = device_token if "/ingest/" in case.path else admin_token
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                           checks=[not_a_server_error, status_code_conformance,
                                   response_schema_conformance])
