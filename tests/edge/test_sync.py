"""The sync client against the protocol hub served in-process on loopback."""

import asyncio
import os

import aiohttp
import pytest
import pytest_asyncio
import zstandard
from aiohttp import web

from edge.hub_client import HubClient
from edge.spool import ACKNOWLEDGED, CORRUPT, IN_FLIGHT, PENDING, Spool
from edge.sync import Syncer
from tests.edge.processes import TOKEN
from tests.edge.protocol_hub import arrivals, content, create_app

MiB = 1024 * 1024
pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def hub_with_log(aiohttp_server, tmp_path):
    """The protocol hub, and the list of (method, path) it answered."""
    requests = []

    @web.middleware
    async def record(request, handler):
        response = await handler(request)
        requests.append((request.method, request.path, response.status))
        return response

    app = create_app(tmp_path / "hub", tokens=(TOKEN,))
    app.middlewares.append(record)
    server = await aiohttp_server(app)
    return server, requests, tmp_path / "hub"


async def sync_all(spool, url, token=TOKEN):
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(spool, HubClient(session, url, token), retry_max_seconds=0.2)
        for entry in spool.pending(limit=1000):
            await syncer.upload_until_done(entry)
        return syncer


async def test_only_the_chunks_the_hub_lacks_are_put(hub_with_log, tmp_path):
    server, requests, data = hub_with_log
    shared = os.urandom(MiB)
    (tmp_path / "a.bin").write_bytes(shared + os.urandom(MiB))
    (tmp_path / "b.bin").write_bytes(shared + os.urandom(100))
    spool = Spool(tmp_path / "spool", chunk_size=MiB)
    a = spool.ingest(tmp_path / "a.bin", "a.bin")
    await sync_all(spool, str(server.make_url("")))
    requests.clear()
    b = spool.ingest(tmp_path / "b.bin", "b.bin")
    await sync_all(spool, str(server.make_url("")))
    puts = [path for method, path, _ in requests if method == "PUT"]
    assert puts == [f"/api/v1/ingest/chunks/{b.chunks[1].sha256}"]
    assert b.chunks[0].sha256 == a.chunks[0].sha256
    assert {r["path"]: content(data, r) for r in arrivals(data)} == {
        "a.bin": (tmp_path / "a.bin").read_bytes(), "b.bin": (tmp_path / "b.bin").read_bytes()}
    assert spool.pending() == []


async def test_an_upload_repeated_after_its_commit_is_the_same_file_at_the_hub(
        hub_with_log, tmp_path):
    server, requests, data = hub_with_log
    (tmp_path / "a.bin").write_bytes(b"a" * 1000)
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(tmp_path / "a.bin", "a.bin")
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(spool, HubClient(session, str(server.make_url("")), TOKEN))
        first = await syncer.upload(entry)
        # as after a crash between the hub's answer and the spool's record of it
        spool.adopt(entry, PENDING)
        second = await syncer.upload(entry)
    assert first == second
    assert len(arrivals(data)) == 1
    assert [s for m, p, s in requests if p.endswith("/commit")] == [201, 200]


async def test_a_chunk_the_hub_finds_corrupt_sets_the_entry_aside_and_others_go_on(
        hub_with_log, tmp_path):
    server, _, data = hub_with_log
    (tmp_path / "bad.bin").write_bytes(os.urandom(5000))
    (tmp_path / "good.bin").write_bytes(os.urandom(5000))
    spool = Spool(tmp_path / "spool")
    bad = spool.ingest(tmp_path / "bad.bin", "bad.bin")
    spool.ingest(tmp_path / "good.bin", "good.bin")
    frame = spool.entry_directory(bad.upload_id) / "000000.zst"
    frame.write_bytes(zstandard.ZstdCompressor().compress(b"something else"))
    syncer = await sync_all(spool, str(server.make_url("")))
    assert spool.get(bad.upload_id).state == CORRUPT
    assert [r["path"] for r in arrivals(data)] == ["good.bin"]
    assert any("does not match" in e["error"] for e in syncer.errors)


async def test_a_bad_token_keeps_the_file_queued_and_says_to_enrol(hub_with_log, tmp_path):
    server, _, data = hub_with_log
    (tmp_path / "a.bin").write_bytes(b"x")
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(tmp_path / "a.bin", "a.bin")
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(spool, HubClient(session, str(server.make_url("")), "wrong"),
                        retry_max_seconds=0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(syncer.upload_until_done(entry), timeout=1.0)
    assert spool.get(entry.upload_id).state in (PENDING, IN_FLIGHT)
    assert any("enroll" in e["error"] for e in syncer.errors)
    assert arrivals(data) == []


async def test_an_upload_under_a_bandwidth_limit_arrives_whole(hub_with_log, tmp_path):
    from edge.throttle import BandwidthLimit

    server, _, data = hub_with_log
    payload = os.urandom(300_000)
    (tmp_path / "a.bin").write_bytes(payload)
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(tmp_path / "a.bin", "a.bin")
    async with aiohttp.ClientSession() as session:
        client = HubClient(session, str(server.make_url("")), TOKEN,
                           limit=BandwidthLimit(2_000_000))
        await Syncer(spool, client).upload_until_done(entry)
    [record] = arrivals(data)
    assert content(data, record) == payload
    assert spool.get(entry.upload_id).state == ACKNOWLEDGED
