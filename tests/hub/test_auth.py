"""Tokens and passwords: expiry, revocation, scopes and what rests in the database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from hub.auth import hash_password, issue_token, revoke_token, revoke_tokens_of, verify_password
from hub.database import open_database
from hub.state import DATABASE


async def me(client, token: str):
    return await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.asyncio
async def test_an_expired_token_is_refused(hub):
    client, facility = hub
    db = open_database(facility.config.database_path)
    _, expired = issue_token(db, "user", user_id=facility.ids["alice"], days=-0.001)
    answer = await me(client, expired)
    assert answer.status == 401
    assert await answer.json() == {"error": {"code": "invalid_token",
                                             "message": "this token has expired"}}


@pytest.mark.asyncio
async def test_a_revoked_token_is_refused_and_others_keep_working(hub):
    client, facility = hub
    db = open_database(facility.config.database_path)
    token_id, spare = issue_token(db, "user", user_id=facility.ids["alice"], days=1)
    assert (await me(client, spare)).status == 200
    assert revoke_token(db, token_id) == token_id
    assert (await me(client, spare)).status == 401
    assert (await me(client, facility.tokens["alice"])).status == 200


@pytest.mark.asyncio
async def test_revoking_a_devices_tokens_stops_its_uploads(hub):
    client, facility = hub
    db = open_database(facility.config.database_path)
    device = next(iter(db.query("SELECT id FROM devices WHERE name = 'pi-xrd'")))["id"]
    assert revoke_tokens_of(db, device_id=device) == 1
    answer = await client.post("/api/v1/ingest/offer", headers=facility.auth("xrd"),
                               json={"sha256": "0" * 64, "size": 0, "chunks": []})
    assert answer.status == 401
    other = await client.post("/api/v1/ingest/offer", headers=facility.auth("sem"),
                              json={"sha256": "0" * 64, "size": 0, "chunks": []})
    assert other.status == 200


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Token abc",
                                    "Bearer kozo_usr_not-a-real-token"])
@pytest.mark.asyncio
async def test_a_malformed_or_unknown_authorization_is_401(hub, header):
    client, _ = hub
    answer = await client.get("/api/v1/me", headers={"Authorization": header})
    assert answer.status == 401
    assert (await answer.json())["error"]["code"] == "invalid_token"


@pytest.mark.asyncio
async def test_tokens_rest_only_as_hashes(hub):
    _, facility = hub
    stored = facility.config.database_path.read_bytes()
    wal = facility.config.database_path.with_name("hub.sqlite3-wal")
    stored += wal.read_bytes() if wal.exists() else b""
    for token in facility.tokens.values():
        assert token.encode() not in stored
    for code in facility.codes.values():
        assert code.encode() not in stored


@pytest.mark.asyncio
async def test_a_device_token_reads_the_current_model_but_not_the_model_list(hub):
    client, facility = hub
    current = await client.get("/api/v1/models/current", headers=facility.auth("xrd"))
    assert current.status == 404  # allowed, and there is none yet
    assert (await current.json())["error"]["code"] == "no_current_model"
    listing = await client.get("/api/v1/models", headers=facility.auth("xrd"))
    assert listing.status == 403


def test_a_password_verifies_only_itself():
    stored = hash_password("a long passphrase")
    assert verify_password("a long passphrase", stored)
    assert not verify_password("a long passphrasE", stored)
    assert not verify_password("a long passphrase", None)
    assert not verify_password("a long passphrase", "scrypt$garbage")
    assert hash_password("a long passphrase") != stored  # a fresh salt each time


@pytest.mark.asyncio
async def test_a_remembered_token_needs_no_database_read(hub):
    client, facility = hub
    assert (await me(client, facility.tokens["alice"])).status == 200
    statements: list[str] = []
    client.app[DATABASE].conn.set_trace_callback(statements.append)
    try:
        assert (await me(client, facility.tokens["alice"])).status == 200
    finally:
        client.app[DATABASE].conn.set_trace_callback(None)
    assert statements, "the request read nothing: the trace is not working"
    assert not [s for s in statements if "tokens" in s], statements


@pytest.mark.asyncio
async def test_a_remembered_token_revoked_by_another_process_fails_at_once(hub):
    client, facility = hub
    token = facility.tokens["alice"]
    assert (await me(client, token)).status == 200
    assert (await me(client, token)).status == 200  # now answered from memory
    revoked = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "kozo", "hub", "admin", "token", "revoke", token,
                         "--data", str(facility.config.data_dir)], capture_output=True, text=True)
    assert revoked.returncode == 0, revoked.stderr
    answer = await me(client, token)
    assert answer.status == 401
    assert (await answer.json())["error"]["message"] == "this token was revoked"
    assert (await me(client, facility.tokens["bob"])).status == 200


@pytest.mark.asyncio
async def test_a_remembered_token_is_refused_once_it_expires(hub):
    client, facility = hub
    db = open_database(facility.config.database_path)
    lifetime = 1.0  # seconds
    _, brief = issue_token(db, "user", user_id=facility.ids["alice"], days=lifetime / 86400)
    issued = time.time()
    assert (await me(client, brief)).status == 200
    assert (await me(client, brief)).status == 200
    await asyncio.sleep(max(0.0, issued + lifetime + 0.05 - time.time()))
    answer = await me(client, brief)
    assert answer.status == 401
    assert (await answer.json())["error"]["message"] == "this token has expired"
