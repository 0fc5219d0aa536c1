"""The sync client in this process against the real hub (`kozo hub serve`) on loopback.

The requests the client made are recorded with aiohttp's own tracing, on the
client's session; what arrived is read through the hub's data API.
"""

import asyncio
import os

import aiohttp
import pytest
import zstandard

from edge.fsck import FsckReport, repair_corrupt
from edge.hub_client import HubClient
from edge.spool import ACKNOWLEDGED, CORRUPT, IN_FLIGHT, PENDING, Spool
from edge.sync import Syncer

MiB = 1024 * 1024
pytestmark = pytest.mark.asyncio


def recording_session(requests: list, after=None) -> aiohttp.ClientSession:
    """A session that appends (method, path, status) of each answered request to `requests`,
    then awaits `after(method, path)` when given (something else happens at the hub then)."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(session, context, params):
        requests.append((params.method, params.url.path, params.response.status))
        if after is not None:
            await after(params.method, params.url.path)

    trace.on_request_end.append(on_request_end)
    return aiohttp.ClientSession(trace_configs=[trace])


async def sync_all(spool, url, token, session=None):
    async with session or aiohttp.ClientSession() as session:
        syncer = Syncer(spool, HubClient(session, url, token), retry_max_seconds=0.2)
        for entry in spool.pending(limit=1000):
            await syncer.upload_until_done(entry)
        return syncer


async def test_only_the_chunks_the_hub_lacks_are_put(hub, device, tmp_path):
    shared = os.urandom(MiB)
    (tmp_path / "a.bin").write_bytes(shared + os.urandom(MiB))
    (tmp_path / "b.bin").write_bytes(shared + os.urandom(100))
    spool = Spool(tmp_path / "spool", chunk_size=MiB)
    a = spool.ingest(tmp_path / "a.bin", "a.bin")
    await sync_all(spool, hub.url, device.token)
    requests = []
    b = spool.ingest(tmp_path / "b.bin", "b.bin")
    await sync_all(spool, hub.url, device.token, recording_session(requests))
    puts = [(path, status) for method, path, status in requests if method == "PUT"]
    assert puts == [(f"/api/v1/ingest/chunks/{b.chunks[1].sha256}", 201)]
    assert b.chunks[0].sha256 == a.chunks[0].sha256
    found = {f["path"]: device.content(f) for f in device.files()}
    assert found == {"a.bin": (tmp_path / "a.bin").read_bytes(),
                     "b.bin": (tmp_path / "b.bin").read_bytes()}
    assert spool.pending() == []


async def test_a_small_file_goes_without_an_offer_in_two_requests(hub, device, tmp_path):
    (tmp_path / "small.txt").write_bytes(b"2theta intensity\n" * 100)
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(tmp_path / "small.txt", "small.txt")
    requests = []
    await sync_all(spool, hub.url, device.token, recording_session(requests))
    assert requests == [("PUT", f"/api/v1/ingest/chunks/{entry.chunks[0].sha256}", 201),
                        ("POST", "/api/v1/ingest/commit", 201)]
    [arrived] = device.files()
    assert device.content(arrived) == (tmp_path / "small.txt").read_bytes()


async def test_an_upload_repeated_after_its_commit_is_the_same_file_at_the_hub(
        hub, device, tmp_path):
    (tmp_path / "a.bin").write_bytes(b"a" * 1000)
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(tmp_path / "a.bin", "a.bin")
    requests = []
    async with recording_session(requests) as session:
        syncer = Syncer(spool, HubClient(session, hub.url, device.token))
        first = await syncer.upload(entry)
        # as after a crash between the hub's answer and the spool's record of it
        spool.adopt(entry, PENDING)
        second = await syncer.upload(entry)
    assert first == second
    assert [f["id"] for f in device.files()] == [first]
    assert [s for m, p, s in requests if p.endswith("/commit")] == [201, 200]


async def test_chunks_the_hub_lost_after_the_offer_are_sent_again_when_the_commit_names_them(
        facility, hub, device, tmp_path):
    """An admin deletes the only file using a chunk between a new file's offer and commit:
    the hub answers the commit 409 missing_chunks, the client sends them and commits again."""
    shared = os.urandom(MiB)
    (tmp_path / "a.bin").write_bytes(shared + os.urandom(MiB))
    (tmp_path / "b.bin").write_bytes(shared + os.urandom(100))
    spool = Spool(tmp_path / "spool", chunk_size=MiB)
    spool.ingest(tmp_path / "a.bin", "a.bin")
    await sync_all(spool, hub.url, device.token)
    [a_at_hub] = device.files()
    b = spool.ingest(tmp_path / "b.bin", "b.bin")
    deleted = []

    async def delete_a_after_the_offer(method, path):
        if path.endswith("/ingest/offer") and not deleted:
            deleted.append(await asyncio.to_thread(
                facility.admin.delete, a_at_hub))

    requests = []
    syncer = await sync_all(spool, hub.url, device.token,
                            recording_session(requests, after=delete_a_after_the_offer))
    assert deleted[0]["chunks_freed"] == 2
    assert requests == [("POST", "/api/v1/ingest/offer", 200),
                        ("PUT", f"/api/v1/ingest/chunks/{b.chunks[1].sha256}", 201),
                        ("POST", "/api/v1/ingest/commit", 409),
                        ("PUT", f"/api/v1/ingest/chunks/{b.chunks[0].sha256}", 201),
                        ("POST", "/api/v1/ingest/commit", 201)]
    [b_at_hub] = device.files()
    assert device.content(b_at_hub) == (tmp_path / "b.bin").read_bytes()
    assert spool.get(b.upload_id).state == ACKNOWLEDGED and not syncer.errors


async def test_a_chunk_the_hub_finds_corrupt_sets_the_entry_aside_and_others_go_on(
        hub, device, tmp_path):
    (tmp_path / "bad.bin").write_bytes(os.urandom(5000))
    (tmp_path / "good.bin").write_bytes(os.urandom(5000))
    spool = Spool(tmp_path / "spool")
    bad = spool.ingest(tmp_path / "bad.bin", "bad.bin")
    spool.ingest(tmp_path / "good.bin", "good.bin")
    frame = spool.entry_directory(bad.upload_id) / "000000.zst"
    frame.write_bytes(zstandard.ZstdCompressor().compress(b"something else"))
    requests = []
    syncer = await sync_all(spool, hub.url, device.token, recording_session(requests))
    assert ("PUT", f"/api/v1/ingest/chunks/{bad.chunks[0].sha256}", 422) in requests
    assert spool.get(bad.upload_id).state == CORRUPT
    assert [f["path"] for f in device.files()] == ["good.bin"]
    assert any("does not match" in e["error"] for e in syncer.errors)


async def test_a_spooled_chunk_that_is_no_zstd_frame_any_more_is_repaired_and_arrives(
        hub, device, tmp_path):
    """The hub refuses such a body as 400 malformed_zstd, not 422: still the spool's fault,
    so the entry is set aside as corrupt, re-read from its source and sent again."""
    data = os.urandom(5000)
    (tmp_path / "bad.bin").write_bytes(data)
    spool = Spool(tmp_path / "spool")
    bad = spool.ingest(tmp_path / "bad.bin", "bad.bin")
    frame = spool.entry_directory(bad.upload_id) / "000000.zst"
    frame.write_bytes(b"garbage" + frame.read_bytes()[7:])
    requests = []
    await sync_all(spool, hub.url, device.token, recording_session(requests))
    assert ("PUT", f"/api/v1/ingest/chunks/{bad.chunks[0].sha256}", 400) in requests
    assert spool.get(bad.upload_id).state == CORRUPT
    assert device.files() == []
    repair_corrupt(spool, FsckReport())  # what the daemon's repair loop does
    await sync_all(spool, hub.url, device.token)
    [file] = device.files()
    assert (file["path"], device.content(file)) == ("bad.bin", data)


async def test_a_bad_token_keeps_the_file_queued_and_says_to_enrol(hub, device, tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x")
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(tmp_path / "a.bin", "a.bin")
    async with aiohttp.ClientSession() as session:
        syncer = Syncer(spool, HubClient(session, hub.url, "kozo_dev_wrong"),
                        retry_max_seconds=0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(syncer.upload_until_done(entry), timeout=1.0)
    assert spool.get(entry.upload_id).state in (PENDING, IN_FLIGHT)
    assert any("401 invalid_token" in e["error"] and "enroll" in e["error"]
               for e in syncer.errors)
    assert device.files() == []


async def test_an_upload_under_a_bandwidth_limit_arrives_whole(hub, device, tmp_path):
    from edge.throttle import BandwidthLimit

    payload = os.urandom(300_000)
    (tmp_path / "a.bin").write_bytes(payload)
    spool = Spool(tmp_path / "spool")
    entry = spool.ingest(tmp_path / "a.bin", "a.bin")
    async with aiohttp.ClientSession() as session:
        client = HubClient(session, hub.url, device.token, limit=BandwidthLimit(2_000_000))
        await Syncer(spool, client).upload_until_done(entry)
    [file] = device.files()
    assert device.content(file) == payload
    assert spool.get(entry.upload_id).state == ACKNOWLEDGED


async def run_syncer_until_settled(spool: Spool, url: str, token: str, session,
                                   concurrency: int = 2) -> Syncer:
    """The daemon's loop (`Syncer.run`) until nothing is pending or in flight."""
    async with session:
        syncer = Syncer(spool, HubClient(session, url, token), concurrency=concurrency,
                        retry_max_seconds=0.2)
        running = asyncio.create_task(syncer.run())
        while spool.all_entries((PENDING, IN_FLIGHT)):
            await asyncio.sleep(0.05)
        running.cancel()
        return syncer


async def test_small_files_are_committed_in_batches_each_exactly_once(hub, device, tmp_path):
    sources = {f"s/{n}.txt": f"reading {n}\n".encode() * 20 for n in range(150)}
    for path, data in sources.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_bytes(data)
    spool = Spool(tmp_path / "spool")
    spool.ingest_batch([(tmp_path / path, path) for path in sources])
    requests = []
    await run_syncer_until_settled(spool, hub.url, device.token, recording_session(requests))
    commits = [path for method, path, _ in requests if method == "POST" and "commit" in path]
    assert set(commits) == {"/api/v1/ingest/commits"}
    assert len(commits) <= 150 // 64 + 2  # 64 per batch; how they fall apart depends on timing
    found = {f["path"]: device.content(f) for f in device.files()}
    assert found == sources
    assert len(spool.all_entries((ACKNOWLEDGED,))) == 150


async def test_a_corrupt_file_in_a_batch_is_set_aside_and_the_rest_arrive(hub, device, tmp_path):
    for n in range(10):
        (tmp_path / f"{n}.txt").write_bytes(os.urandom(3000))
    spool = Spool(tmp_path / "spool")
    entries = spool.ingest_batch([(tmp_path / f"{n}.txt", f"{n}.txt") for n in range(10)])
    bad = entries[3]
    frame = spool.entry_directory(bad.upload_id) / "000000.zst"
    frame.write_bytes(zstandard.ZstdCompressor().compress(b"something else"))
    requests = []
    await run_syncer_until_settled(spool, hub.url, device.token, recording_session(requests),
                                   concurrency=1)
    assert ("POST", "/api/v1/ingest/commits", 200) in requests
    assert spool.get(bad.upload_id).state == CORRUPT
    assert sorted(f["path"] for f in device.files()) == sorted(
        f"{n}.txt" for n in range(10) if n != 3)
