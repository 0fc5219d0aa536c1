"""Password guessing on /login: after a few failures the page answers 429 for a while."""

from __future__ import annotations

import asyncio

import pytest

from hub.config import ConfigError, HubConfig, load_config
from tests.hub.conftest import log_in

pytestmark = pytest.mark.asyncio
FAILURES, WINDOW = 3, 2


@pytest.fixture
def hub_config(tmp_path) -> HubConfig:
    return HubConfig(data_dir=tmp_path / "hub", login_failures=FAILURES,
                     login_window_seconds=WINDOW)


async def test_failed_logins_lock_the_form_until_the_oldest_leaves_the_window(hub):
    client, _ = hub
    for _ in range(FAILURES - 1):
        assert (await log_in(client, "alice", "guess")).status == 401
    assert (await log_in(client, "alice", "alice-password")).status == 303  # under the limit
    assert (await log_in(client, "alice", "guess")).status == 401  # the last one allowed
    locked = await log_in(client, "alice", "alice-password")  # even the right password
    assert locked.status == 429
    assert "kozo_session" not in locked.cookies
    assert "Too many failed logins" in await locked.text()
    wait = int(locked.headers["Retry-After"])
    assert 1 <= wait <= WINDOW
    # another name from the same address is locked too: a spray over names is slowed
    assert (await log_in(client, "bob", "anything")).status == 429
    await asyncio.sleep(wait + 0.2)
    assert (await log_in(client, "alice", "alice-password")).status == 303


async def test_a_person_locked_out_of_the_page_still_reaches_the_api(hub):
    client, facility = hub
    for _ in range(FAILURES):
        await log_in(client, "alice", "guess")
    assert (await log_in(client, "alice", "alice-password")).status == 429
    answer = await client.get("/api/v1/me", headers=facility.auth("alice"))
    assert answer.status == 200 and (await answer.json())["name"] == "alice"


@pytest.mark.parametrize("variable", ["KOZO_HUB_LOGIN_FAILURES", "KOZO_HUB_LOGIN_WINDOW_SECONDS"])
async def test_limits_below_one_are_refused_with_their_name(variable):
    with pytest.raises(ConfigError, match=variable.removeprefix("KOZO_HUB_").lower()):
        load_config(environ={variable: "0"})
