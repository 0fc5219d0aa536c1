"""The browser page: log in, see one's own files, download; the cookie cannot change data."""

from __future__ import annotations

import pytest

from hub.accounts import add_user
from hub.database import open_database
from tests.hub.conftest import log_in, upload

pytestmark = pytest.mark.asyncio


async def test_without_a_session_the_page_sends_you_to_the_login_form(hub):
    client, _ = hub
    answer = await client.get("/", allow_redirects=False)
    assert (answer.status, answer.headers["Location"]) == (303, "/login")


async def test_a_wrong_password_or_unknown_name_sets_no_cookie(hub):
    client, _ = hub
    for name, password in (("alice", "not-her-password"), ("mallory", "alice-password"),
                           ("bob", "")):  # bob has no password: he cannot log in
        answer = await log_in(client, name, password)
        assert answer.status == 401
        assert "kozo_session" not in answer.cookies
    assert "Wrong name or password" in await answer.text()


async def test_after_login_the_page_lists_only_ones_files_escaped_with_links(hub):
    client, facility = hub
    mine = await upload(client, facility.auth("xrd"), b"mine", "<script>alert(1)</script>.cif")
    await upload(client, facility.auth("sem"), b"bob's", "bobs-secret.tif")
    answer = await log_in(client, "alice", "alice-password")
    assert answer.status == 303
    cookie = answer.cookies["kozo_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    text = await (await client.get("/")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.cif" in text and "<script>" not in text
    assert "bobs-secret" not in text
    download = await client.get(f"/api/v1/files/{mine}/content")
    assert await download.read() == b"mine"


async def test_an_admins_session_cookie_cannot_change_data(hub):
    client, facility = hub
    db = open_database(facility.config.database_path)
    add_user(db, "chief", admin=True, password="chief-password")
    file_id = await upload(client, facility.auth("xrd"), b"keep", "k.cif")
    assert (await log_in(client, "chief", "chief-password")).status == 303
    assert (await client.get(f"/api/v1/files/{file_id}")).status == 200  # reading works
    attempt = await client.delete(f"/api/v1/files/{file_id}")
    assert attempt.status == 401
    still = await client.get(f"/api/v1/files/{file_id}", headers=facility.auth("root"))
    assert still.status == 200


async def test_logging_out_ends_the_session(hub):
    client, _ = hub
    answer = await log_in(client, "alice", "alice-password")
    session = answer.cookies["kozo_session"].value
    await client.post("/logout")
    after = await client.get("/api/v1/me", cookies={"kozo_session": session})
    assert after.status == 401
