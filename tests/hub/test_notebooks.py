"""Notebook servers through the hub: real Jupyter servers (LocalSpawner), the real proxy.

Two Jupyter starts in this file (~3 s each): alice's end to end (start, progress,
proxy, a kernel over the proxied websocket reading an ingested file with the
client library, stop), and bob's across a hub restart (adopted, then culled).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
import uuid

import aiohttp
import pytest
import pytest_asyncio

from hub.app import create_app
from hub.config import ConfigError
from kozo.ports import free_loopback_port
from tests.hub.conftest import Facility, upload

pytestmark = pytest.mark.asyncio
KERNEL_V1 = "v1.kernel.websocket.jupyter.org"


async def serve_hub(aiohttp_client, facility: Facility, **settings):
    """The real hub on a known loopback port, so its KOZO_HUB_URL is right for the servers."""
    port = free_loopback_port()
    settings = {"spawn_wait_seconds": 0.5, "cull_idle_seconds": 0.0, **settings}
    config = dataclasses.replace(facility.config, host="127.0.0.1", port=port, **settings)
    return await aiohttp_client(create_app(config), server_kwargs={"port": port})


async def enroll(client, facility: Facility, instrument: str = "xrd-1", who: str = "xrd") -> None:
    answer = await client.post("/api/v1/devices/enroll",
                               json={"code": facility.codes[instrument], "name": f"pi-{who}"})
    assert answer.status == 201, await answer.text()
    facility.tokens[who] = (await answer.json())["token"]


@pytest_asyncio.fixture
async def notebook_hub(aiohttp_client, facility: Facility):
    """(client, facility); every server still running at the end is stopped through the API."""
    client = await serve_hub(aiohttp_client, facility)
    await enroll(client, facility)
    holder = {"client": client}
    yield holder, facility
    if holder["client"].server.closed:  # the test closed it: a new hub stops the servers
        holder["client"] = await serve_hub(aiohttp_client, facility)
    await stop_all(holder["client"], facility)


async def stop_all(client, facility: Facility) -> None:
    for user in ("alice", "bob"):
        answer = await client.delete(f"/api/v1/users/{user}/server", headers=facility.auth("root"))
        if answer.status == 202:
            await wait_for_state(client, facility, user, "stopped")


async def wait_for_state(client, facility: Facility, user: str, state: str,
                         seconds: float = 30.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        body = await (await client.get(f"/api/v1/users/{user}/server",
                                       headers=facility.auth("root"))).json()
        if body["state"] == state and body["pending"] is None:
            return body
        assert time.monotonic() < deadline, f"{user}'s server stayed {body}"
        await asyncio.sleep(0.1)


async def progress_events(client, headers: dict, user: str) -> list[dict]:
    answer = await client.get(f"/api/v1/users/{user}/server/progress", headers=headers)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    events = []
    async for line in answer.content:
        if line.startswith(b"data: "):
            events.append(json.loads(line[len(b"data: "):]))
    return events


async def start_and_wait(client, facility: Facility, user: str) -> list[dict]:
    answer = await client.post(f"/api/v1/users/{user}/server", json={"profile": "small"},
                               headers=facility.auth(user))
    assert answer.status in (201, 202), await answer.text()
    if answer.status == 202:
        assert (await answer.json())["pending"] == "spawn"
    return await progress_events(client, facility.auth(user), user)


def execute_request(code: str, session: str) -> dict:
    """A Jupyter messaging-protocol execute_request (protocol 5.3)."""
    return {"header": {"msg_id": uuid.uuid4().hex, "session": session, "username": "test",
                       "msg_type": "execute_request", "version": "5.3",
                       "date": "2026-11-24T00:00:00Z"},
            "parent_header": {}, "metadata": {},
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}


def pack_v1(channel: str, message: dict) -> bytes:
    """The v1 kernel websocket framing: offset count, offsets, channel, then JSON parts."""
    parts = [json.dumps(message[k]).encode() for k in
             ("header", "parent_header", "metadata", "content")]
    offsets = [8 * (len(parts) + 3)]
    for piece in (channel.encode(), *parts):
        offsets.append(offsets[-1] + len(piece))
    return b"".join([len(offsets).to_bytes(8, "little"),
                     *(o.to_bytes(8, "little") for o in offsets), channel.encode(), *parts])


def unpack_v1(frame: bytes) -> tuple[str, dict]:
    count = int.from_bytes(frame[:8], "little")
    offsets = [int.from_bytes(frame[8 * (i + 1):8 * (i + 2)], "little") for i in range(count)]
    pieces = [frame[offsets[i]:offsets[i + 1]] for i in range(count - 1)]
    header, parent, metadata, content = (json.loads(p) for p in pieces[1:5])
    return pieces[0].decode(), {"header": header, "parent_header": parent, "metadata": metadata,
                                "content": content, "msg_type": header["msg_type"]}


async def run_in_kernel(ws: aiohttp.ClientWebSocketResponse, code: str, *, binary: bool) -> str:
    """Execute `code` over an open kernel websocket; returns its stdout, or fails with its error."""
    request = execute_request(code, uuid.uuid4().hex)
    if binary:
        await ws.send_bytes(pack_v1("shell", request))
    else:
        await ws.send_str(json.dumps({**request, "channel": "shell", "buffers": []}))
    stdout, replied, idle = [], False, False
    async with asyncio.timeout(60):
        while not (replied and idle):
            frame = await ws.receive()
            if binary:
                assert frame.type is aiohttp.WSMsgType.BINARY, frame
                _, message = unpack_v1(frame.data)
            else:
                assert frame.type is aiohttp.WSMsgType.TEXT, frame
                message = json.loads(frame.data)
            if message["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                continue
            kind, content = message["header"]["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                pytest.fail("kernel error:\n" + "\n".join(content["traceback"]))
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
    return "".join(stdout)


async def test_a_users_server_starts_serves_a_kernel_that_reads_their_data_and_stops(notebook_hub):
    holder, facility = notebook_hub
    client = holder["client"]
    data = b"data_alloy\n_cell_length_a 3.61\n"
    await upload(client, facility.auth("xrd"), data, "runs/2026-11/alloy-17.cif")
    await upload(client, facility.auth("xrd"), b"another file", "runs/other.txt")
    events = await start_and_wait(client, facility, "alice")
    assert events[-1]["ready"] is True and events[-1]["state"] == "running"
    assert not any(e["failed"] for e in events)
    assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)
    server = await (await client.get("/api/v1/users/alice/server",
                                     headers=facility.auth("alice"))).json()
    assert (server["ready"], server["url"], server["profile"]) == (True, "/user/alice/", "small")
    assert "token" not in json.dumps(server)

    status = await client.get("/user/alice/api/status", headers=facility.auth("alice"))
    assert status.status == 200, await status.text()
    assert "kernels" in await status.json()
    assert (await client.get("/user/alice/api/status", headers=facility.auth("bob"))).status == 403
    assert (await client.get("/user/alice/api/status")).status == 401

    # a browser: the hub's session cookie, and only from the hub's own origin for a change
    logged_in = await client.post("/login", allow_redirects=False,
                                  data={"name": "alice", "password": "alice-password"})
    session = {"kozo_session": logged_in.cookies["kozo_session"].value}
    client.session.cookie_jar.clear()
    assert (await client.get("/user/alice/api/status", cookies=session)).status == 200
    # JupyterLab's page sends the server's own token beside the cookie: the cookie decides,
    # and that token alone gets nowhere at the hub.
    foreign = {"Authorization": "token not-a-hub-token"}
    assert (await client.get("/user/alice/api/status", cookies=session,
                             headers=foreign)).status == 200
    assert (await client.get("/user/alice/api/status", headers=foreign)).status == 401
    new_file = {"type": "file", "ext": ".txt"}
    cross_site = await client.post("/user/alice/api/contents", json=new_file, cookies=session,
                                   headers={"Origin": "http://elsewhere.example"})
    assert cross_site.status == 403
    assert (await cross_site.json())["error"]["code"] == "cross_site_request"
    same_site = await client.post("/user/alice/api/contents", json=new_file, cookies=session,
                                  headers={"Origin": str(client.make_url("")).rstrip("/")})
    assert same_site.status == 201, await same_site.text()
    client.session.cookie_jar.clear()

    kernel = await client.post("/user/alice/api/kernels", json={"name": "python3"},
                               headers=facility.auth("alice"))
    assert kernel.status == 201, await kernel.text()
    kernel_id = (await kernel.json())["id"]
    channels = f"/user/alice/api/kernels/{kernel_id}/channels"
    code = ("import json, os\nfrom hub.client import Hub\nhub = Hub(cache_dir='hub-cache')\n"
            "files = hub.files(name='alloy')\n"
            "print(json.dumps({'names': [f['name'] for f in files],\n"
            "                  'text': hub.read_bytes(files[0]).decode(),\n"
            "                  'token': os.environ['KOZO_HUB_TOKEN']}))")
    async with client.ws_connect(channels, headers=facility.auth("alice"),
                                 protocols=[KERNEL_V1]) as ws:
        assert ws.protocol == KERNEL_V1  # negotiated with Jupyter through the proxy
        seen = json.loads(await run_in_kernel(ws, code, binary=True))
    assert seen["names"] == ["alloy-17.cif"]
    assert seen["text"] == data.decode()
    server_token = seen["token"]
    assert server_token.startswith("kozo_usr_")
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {server_token}"})
    assert (await me.json())["name"] == "alice"

    # the legacy protocol (JSON text frames); the server's close reaches the browser's side
    ws = await client.ws_connect(channels, headers=facility.auth("alice"))
    assert (await run_in_kernel(ws, "print(6 * 7)", binary=False)).strip() == "42"
    stop = await client.delete("/api/v1/users/alice/server", headers=facility.auth("alice"))
    assert stop.status in (202, 204)
    async with asyncio.timeout(30):
        while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE,
                                                aiohttp.WSMsgType.CLOSED):
            pass
    await ws.close()
    await wait_for_state(client, facility, "alice", "stopped")

    gone = await client.get("/user/alice/api/status", headers=facility.auth("alice"))
    assert gone.status == 503
    assert (await gone.json())["error"]["code"] == "server_not_running"
    page = await client.get("/user/alice/lab", headers={**facility.auth("alice"),
                                                        "Accept": "text/html"})
    assert page.status == 503 and "not running" in await page.text()
    revoked = await client.get("/api/v1/me",
                               headers={"Authorization": f"Bearer {server_token}"})
    assert revoked.status == 401


async def test_a_server_survives_a_hub_restart_and_is_culled_when_idle(notebook_hub,
                                                                       aiohttp_client):
    holder, facility = notebook_hub
    first = holder["client"]
    events = await start_and_wait(first, facility, "bob")
    assert events[-1]["ready"] is True
    await first.close()  # the hub stops; bob's server is left running on purpose

    second = await serve_hub(aiohttp_client, facility, cull_idle_seconds=1.0)
    holder["client"] = second
    status = await second.get("/user/bob/api/status", headers=facility.auth("bob"))
    assert status.status == 200, await status.text()  # adopted: its route works at once
    stopped = await wait_for_state(second, facility, "bob", "stopped")
    assert stopped["ready"] is False
    after = await second.get("/user/bob/api/status", headers=facility.auth("bob"))
    assert (await after.json())["error"]["code"] == "server_not_running"


async def test_who_may_start_a_server_and_with_which_profile(notebook_hub):
    holder, facility = notebook_hub
    client = holder["client"]
    other = await client.post("/api/v1/users/bob/server", headers=facility.auth("alice"))
    assert other.status == 403
    assert (await other.json())["error"]["code"] == "not_your_server"
    device = await client.post("/api/v1/users/alice/server", headers=facility.auth("xrd"))
    assert device.status == 403
    nobody = await client.post("/api/v1/users/nobody/server", headers=facility.auth("root"))
    assert nobody.status == 404
    huge = await client.post("/api/v1/users/alice/server", json={"profile": "huge"},
                             headers=facility.auth("alice"))
    assert huge.status == 400
    error = (await huge.json())["error"]
    assert error["code"] == "unknown_profile" and "small" in error["message"]
    never = await client.get("/api/v1/users/alice/server", headers=facility.auth("alice"))
    assert (await never.json())["state"] == "stopped"
    assert (await client.delete("/api/v1/users/alice/server",
                                headers=facility.auth("alice"))).status == 204
    events = await progress_events(client, facility.auth("alice"), "alice")
    assert [(e["state"], e["ready"]) for e in events] == [("stopped", False)]
    unknown = await client.get("/user/nobody/api/status", headers=facility.auth("root"))
    assert unknown.status == 404


@pytest.mark.parametrize("settings, message", [
    ({"spawner": "docker"}, "spawner must be one of local, kubernetes; got 'docker'"),
    ({"spawner": "kubernetes"}, "needs hub_url"),
])
async def test_a_hub_with_an_unusable_spawner_setting_does_not_start(facility, aiohttp_client,
                                                                     settings, message):
    config = dataclasses.replace(facility.config, **settings)
    with pytest.raises(ConfigError, match=re.escape(message)):
        await aiohttp_client(create_app(config))
