"""The demo's last step against a real hub whose notebook servers cannot start in time.

The hub's start timeout (0.5 s) is shorter than any Jupyter start, so every start
fails through the real spawner; the demo must say why, try once more, then stop
with the hub's reason.
"""

import asyncio
import threading

import pytest

from hub import accounts
from hub.app import create_app
from hub.auth import issue_token
from hub.client import Hub
from hub.config import HubConfig
from hub.database import open_database
from hub.spawners.local import server_log_path
from kozo.demo.runner import DEMO_USER, start_notebook_with_retry
from kozo.demo.services import DemoError


@pytest.fixture
def impatient_hub_config(tmp_path) -> tuple[HubConfig, str]:
    config = HubConfig(data_dir=tmp_path / "hub", spawn_timeout_seconds=0.5)
    db = open_database(config.database_path)
    user_id = accounts.add_user(db, DEMO_USER)
    token = issue_token(db, "user", user_id=user_id, days=1)[1]
    db.close()
    return config, token


@pytest.mark.asyncio
async def test_a_failed_notebook_start_is_said_and_tried_once_more(aiohttp_server,
                                                                    impatient_hub_config):
    config, token = impatient_hub_config
    server = await aiohttp_server(create_app(config))
    user = Hub(f"http://127.0.0.1:{server.port}", token)
    lines: list[str] = []
    folder = config.notebook_root / DEMO_USER
    with pytest.raises(DemoError, match="did not start") as failure:
        await asyncio.to_thread(start_notebook_with_retry, user, folder, lines.append,
                                threading.Event())
    assert "within 0.5 seconds" in str(failure.value)  # the hub's reason reaches the user
    assert len(lines) == 1 and "trying once more" in lines[0] and "0.5 seconds" in lines[0]
    log = server_log_path(config.notebook_root, DEMO_USER).read_text()
    assert log.count(f"kozo: starting {DEMO_USER}'s server") == 2  # two real starts
    assert (folder / "my-data.ipynb").is_file()
