"""LocalSpawner starting real Jupyter servers on loopback (three full starts, ~3 s each).

Failing starts use commands that exit or never answer, which cost no server start.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from hub.spawners import ServerBusy, SpawnFailed, SpawnTimeout, State
from hub.spawners.local import LocalSpawner

pytestmark = pytest.mark.asyncio

HUB_URL = "http://127.0.0.1:8081"


def make_spawner(root: Path, **overrides) -> LocalSpawner:
    options = dict(root_dir=root, hub_url=HUB_URL, start_timeout=60.0, stop_timeout=5.0,
                   poll_interval=0.1)
    return LocalSpawner(**{**options, **overrides})


async def http_status(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"token {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status


def process_state(pid: int) -> str | None:
    """The kernel's state letter for `pid` (None once it is reaped); read here, not via the spawner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return None


async def wait_until_gone(pid: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while process_state(pid) not in (None, "Z"):
        assert time.monotonic() < deadline, f"process {pid} still running"
        await asyncio.sleep(0.05)


def recorded(root: Path) -> dict:
    """The spawner's state file, read as JSON ({} while there is none)."""
    path = root / ".servers.json"
    return json.loads(path.read_text()) if path.exists() else {}


def recorded_pid(root: Path, user: str) -> int:
    return recorded(root)[user]["pid"]


async def test_each_user_gets_a_server_on_its_own_port_that_answers_only_its_own_token(tmp_path):
    spawner = make_spawner(tmp_path)
    alice, bob = await asyncio.gather(spawner.start("alice", hub_token="hub-alice"),
                                      spawner.start("bob", hub_token="hub-bob"))

    assert alice.url.startswith("http://127.0.0.1:") and alice.url.endswith("/user/alice/")
    assert alice.url.split(":")[2] != bob.url.split(":")[2]
    assert alice.token != bob.token
    status = alice.url + "api/status"
    assert await http_status(status, alice.token) == 200
    assert await http_status(status) in (401, 403)
    assert await http_status(status, bob.token) in (401, 403)
    assert await http_status(bob.url + "api/status", bob.token) == 200
    assert (await spawner.poll("alice")).state is State.RUNNING
    assert (tmp_path / "alice").is_dir() and (tmp_path / "bob").is_dir()

    pid = recorded_pid(tmp_path, "alice")
    environ = dict(item.split("=", 1) for item in
                   Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    assert environ["KOZO_HUB_URL"] == HUB_URL
    assert environ["KOZO_HUB_TOKEN"] == "hub-alice"
    assert Path(f"/proc/{pid}/cwd").resolve() == (tmp_path / "alice").resolve()

    await spawner.stop("alice")
    assert (await spawner.poll("alice")).state is State.STOPPED
    await wait_until_gone(pid)
    with pytest.raises(aiohttp.ClientConnectionError):
        await http_status(status, alice.token)
    assert (await spawner.poll("bob")).state is State.RUNNING  # bob's server is untouched
    bob_pid = recorded_pid(tmp_path, "bob")
    await make_spawner(tmp_path).stop("bob")  # a restarted hub, before reconcile, finds it too
    await wait_until_gone(bob_pid)
    assert recorded(tmp_path) == {}


async def test_a_new_spawner_on_the_same_state_file_adopts_live_servers_and_forgets_dead_ones(
        tmp_path):
    before_restart = make_spawner(tmp_path)
    carol = await before_restart.start("carol", hub_token="hub-carol")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)
    records = recorded(tmp_path)
    records["dave"] = {"pid": dead_pid, "port": 1, "token": "t", "url": "http://127.0.0.1:1/user/dave/"}
    (tmp_path / ".servers.json").write_text(json.dumps(records))

    after_restart = make_spawner(tmp_path)
    assert (await after_restart.poll("carol")).state is State.STOPPED  # not known before reconcile
    result = await after_restart.reconcile()

    assert result.adopted == ("carol",)
    assert result.removed == (f"pid {dead_pid} (dave, gone)",)
    assert after_restart.server("carol") == carol
    assert (await after_restart.poll("carol")).state is State.RUNNING
    assert set(recorded(tmp_path)) == {"carol"}
    pid = recorded_pid(tmp_path, "carol")
    await after_restart.stop("carol")
    await wait_until_gone(pid)
    assert (await after_restart.poll("carol")).state is State.STOPPED


@pytest.mark.parametrize("options, words", [
    (dict(extra_args=["--bogus-option"]),
     ["exited with code 2", "unrecognized arguments: --bogus-option"]),
    (dict(command=[sys.executable, "-c", "import sys; sys.stderr.write('disk full\\n'); sys.exit(3)"]),
     ["exited with code 3", "disk full"]),
], ids=["bogus-option", "command-exits"])
async def test_a_server_that_exits_early_fails_with_the_tail_of_its_log(tmp_path, options, words):
    spawner = make_spawner(tmp_path, **options)
    with pytest.raises(SpawnFailed) as raised:
        await spawner.start("erin", hub_token="t")
    polled = await spawner.poll("erin")
    assert polled.state is State.FAILED
    for word in words:
        assert word in str(raised.value) and word in polled.message
    final = [event async for event in spawner.progress("erin")][-1]
    assert final.as_json()["failed"] is True
    assert recorded(tmp_path) == {}


NEVER_ANSWERS = [sys.executable, "-c", "import os; print(os.getpid(), flush=True); "
                 "import time; time.sleep(120)"]


async def test_a_server_that_never_answers_times_out_and_is_killed(tmp_path):
    spawner = make_spawner(tmp_path, command=NEVER_ANSWERS, start_timeout=1.5, stop_timeout=1.0)
    with pytest.raises(SpawnTimeout, match=r"within 1\.5 seconds"):
        await spawner.start("frank", hub_token="t")
    assert (await spawner.poll("frank")).state is State.FAILED
    pid = int((tmp_path / ".logs" / "frank.log").read_text().splitlines()[1])
    await wait_until_gone(pid)


async def test_a_second_start_while_starting_is_refused_as_busy(tmp_path):
    spawner = make_spawner(tmp_path, command=NEVER_ANSWERS, start_timeout=3.0, stop_timeout=1.0)
    first = asyncio.create_task(spawner.start("gina", hub_token="t"))
    deadline = time.monotonic() + 10
    while (await spawner.poll("gina")).state is not State.STARTING:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    with pytest.raises(ServerBusy, match="already starting"):
        await spawner.start("gina", hub_token="t")
    with pytest.raises(SpawnTimeout):
        await first


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), float("inf")])
async def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_rejected_naming_it(
        tmp_path, timeout):
    expected = f"start_timeout must be a positive number of seconds; got {timeout!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        LocalSpawner(root_dir=tmp_path, hub_url=HUB_URL, start_timeout=timeout)
