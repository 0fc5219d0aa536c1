"""Web-page sessions ended long ago are deleted by the hub's housekeeping; tokens stay."""

from __future__ import annotations

import pytest

from hub.app import ENDED_SESSION_DAYS, create_app
from hub.auth import issue_token, revoke_token
from hub.database import open_database

pytestmark = pytest.mark.asyncio


def token_ids(db) -> set[str]:
    return {row["id"] for row in db.query("SELECT id FROM tokens")}


async def test_sessions_ended_long_ago_go_at_start_the_rest_stays(aiohttp_client, facility):
    db = open_database(facility.config.database_path)
    alice = facility.ids["alice"]
    long_expired = issue_token(db, "user", user_id=alice, kind="session",
                               days=-(ENDED_SESSION_DAYS + 1))[0]
    logged_out_long_ago = issue_token(db, "user", user_id=alice, kind="session", days=1)[0]
    revoke_token(db, logged_out_long_ago)
    db.execute("UPDATE tokens SET revoked = revoked - ? WHERE id = ?",
               [(ENDED_SESSION_DAYS + 1) * 86400, logged_out_long_ago])
    recently_expired = issue_token(db, "user", user_id=alice, kind="session", days=-1)[0]
    live = issue_token(db, "user", user_id=alice, kind="session", days=1)[0]
    old_api_token = issue_token(db, "user", user_id=alice, days=-(ENDED_SESSION_DAYS + 1))[0]
    before = token_ids(db)
    await aiohttp_client(create_app(facility.config))  # housekeeping sweeps at start
    after = token_ids(db)
    assert before - after == {long_expired, logged_out_long_ago}
    assert {recently_expired, live, old_api_token} <= after
