"""The ingest protocol (docs/ingest-protocol.md) against the real hub on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import os

import pytest
import zstandard

from hub import accounts
from hub.app import create_app
from hub.database import open_database
from tests.hub.conftest import (compress, cut, describe, files_in, put_chunk, sha256, upload)

pytestmark = pytest.mark.asyncio



def commit_body(data: bytes, upload_id: str = "u-1", **changes) -> dict:
    return {**describe(data), "upload_id": upload_id, "path": "a/b.cif", "modified": 1.0,
            "metadata": {}, "predictions": None, "check_error": None, **changes}


async def listed_files(client, facility) -> list[dict]:
    answer = await client.get("/api/v1/files", headers=facility.auth("root"))
    assert answer.status == 200
    return (await answer.json())["files"]


# Enrolment

async def test_enrolment_gives_a_device_token_for_the_codes_instrument(hub):
    client, facility = hub
    db = open_database(facility.config.database_path)
    code, _ = accounts.new_enrolment_code(db, "sem-1", hours=1)
    answer = await client.post("/api/v1/devices/enroll", json={"code": code, "name": "pi-2"})
    assert answer.status == 201
    body = await answer.json()
    assert set(body) == {"device", "instrument", "token"}
    assert body["instrument"] == "sem-1"
    assert body["device"].startswith("dev_") and body["token"].startswith("kozo_dev_")


async def test_an_enrolment_code_works_once(hub):
    client, facility = hub
    answer = await client.post("/api/v1/devices/enroll",
                               json={"code": facility.codes["xrd-1"], "name": "pi-again"})
    assert answer.status == 403
    assert (await answer.json())["error"]["code"] == "code_used"
    db = open_database(facility.config.database_path)
    assert db["devices"].count == 2


async def test_an_expired_enrolment_code_is_refused(hub):
    client, facility = hub
    db = open_database(facility.config.database_path)
    code, _ = accounts.new_enrolment_code(db, "xrd-1", hours=-1)
    answer = await client.post("/api/v1/devices/enroll", json={"code": code, "name": "pi-late"})
    assert answer.status == 403
    assert (await answer.json())["error"]["code"] == "code_expired"
    assert db["devices"].count == 2


async def test_an_unknown_enrolment_code_is_refused(hub):
    client, _ = hub
    answer = await client.post("/api/v1/devices/enroll",
                               json={"code": "AAAAA-BBBBB-CCCCC-DDDDD", "name": "pi-x"})
    assert answer.status == 403
    assert (await answer.json())["error"]["code"] == "code_invalid"


# Offer

async def test_offering_a_new_file_asks_for_each_missing_chunk_once_in_order(hub):
    client, facility = hub
    a, b = os.urandom(16 * 1024), os.urandom(100)
    data = a + a + b  # the first chunk repeats
    answer = await client.post("/api/v1/ingest/offer", json=describe(data),
                               headers=facility.auth("xrd"))
    assert answer.status == 200
    assert await answer.json() == {"missing": [sha256(a), sha256(b)]}


async def test_offering_a_known_file_asks_for_no_chunks(hub):
    client, facility = hub
    data = os.urandom(40000)
    await upload(client, facility.auth("xrd"), data)
    answer = await client.post("/api/v1/ingest/offer", json=describe(data),
                               headers=facility.auth("xrd"))
    assert await answer.json() == {"missing": []}


async def test_an_offer_whose_chunk_sizes_do_not_add_up_is_refused(hub):
    client, facility = hub
    offer = describe(os.urandom(1000))
    offer["size"] = 999
    answer = await client.post("/api/v1/ingest/offer", json=offer, headers=facility.auth("xrd"))
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == "sizes_disagree"


async def test_an_offer_with_too_many_chunks_is_refused(hub):
    client, facility = hub
    data = os.urandom(65 * 100)  # the test hub allows 64 chunks per file
    answer = await client.post("/api/v1/ingest/offer", json=describe(data, 100),
                               headers=facility.auth("xrd"))
    assert answer.status == 413
    assert (await answer.json())["error"]["code"] == "too_many_chunks"


@pytest.mark.parametrize("body, content_type, status, code", [
    (b"{not json", "application/json", 400, "malformed_json"),
    (b"[1, 2]", "application/json", 400, "malformed_json"),
    (b'{"sha256": "ABC", "size": 1, "chunks": []}', "application/json", 400, "bad_hash"),
    (b'{"sha256": "' + b"0" * 64 + b'", "size": true, "chunks": []}', "application/json",
     400, "malformed_request"),
    (b'{"sha256": "' + b"0" * 64 + b'", "size": 0, "chunks": []}', "text/plain", 415,
     "unsupported_media_type"),
    (b'{"pad": "' + b"x" * 70000 + b'"}', "application/json", 413, "body_too_large"),
])
async def test_malformed_offers_are_refused_with_a_json_error(hub, body, content_type, status,
                                                              code):
    client, facility = hub
    answer = await client.post("/api/v1/ingest/offer", data=body,
                               headers={**facility.auth("xrd"), "Content-Type": content_type})
    assert answer.status == status
    assert (await answer.json())["error"]["code"] == code


async def test_people_cannot_upload_only_devices_can(hub):
    client, facility = hub
    for who in ("alice", "root"):
        answer = await client.post("/api/v1/ingest/offer", json=describe(b"x"),
                                   headers=facility.auth(who))
        assert answer.status == 403
        assert (await answer.json())["error"]["code"] == "insufficient_scope"


async def test_ingest_without_a_token_is_401(hub):
    client, _ = hub
    answer = await client.post("/api/v1/ingest/offer", json=describe(b"x"))
    assert answer.status == 401
    assert (await answer.json())["error"]["code"] == "missing_token"


# Chunks

async def test_a_new_chunk_is_stored_and_a_known_one_is_reported_as_held(hub):
    client, facility = hub
    piece = os.urandom(5000)
    first = await put_chunk(client, facility.auth("xrd"), piece)
    again = await put_chunk(client, facility.auth("xrd"), piece)
    assert (first.status, await first.json()) == (201, {"stored": True})
    assert (again.status, await again.json()) == (200, {"stored": False})
    assert len(files_in(facility.config.chunk_dir)) == 1


async def test_the_same_content_from_two_devices_is_stored_once(hub):
    client, facility = hub
    data = os.urandom(50000)  # four chunks
    await upload(client, facility.auth("xrd"), data, "x/one.cif")
    await upload(client, facility.auth("sem"), data, "y/two.cif")
    assert len(files_in(facility.config.chunk_dir)) == 4
    assert len(await listed_files(client, facility)) == 2


async def test_a_chunk_that_does_not_match_its_hash_is_refused_and_not_stored(hub):
    client, facility = hub
    claimed = sha256(b"what the device says")
    answer = await client.put(f"/api/v1/ingest/chunks/{claimed}", data=compress(b"other bytes"),
                              headers={**facility.auth("xrd"), "Content-Type": "application/zstd"})
    assert answer.status == 422
    assert (await answer.json())["error"]["code"] == "hash_mismatch"
    assert files_in(facility.config.chunk_dir) == []
    assert files_in(facility.config.temp_dir) == []


async def test_a_zstd_bomb_is_refused_without_being_stored(hub):
    client, facility = hub
    huge = bytes(50 * 1024 * 1024)  # 50 MiB of zeros: some KiB compressed
    bomb = zstandard.ZstdCompressor(level=19).compress(huge)
    assert len(bomb) < facility.config.max_compressed_chunk_bytes
    answer = await client.put(f"/api/v1/ingest/chunks/{sha256(huge)}", data=bomb,
                              headers={**facility.auth("xrd"), "Content-Type": "application/zstd"})
    assert answer.status == 413
    assert (await answer.json())["error"]["code"] == "decompressed_too_large"
    assert files_in(facility.config.chunk_dir) == []
    assert files_in(facility.config.temp_dir) == []


async def test_a_compressed_body_over_the_limit_is_refused(hub):
    client, facility = hub
    noise = os.urandom(100 * 1024)  # incompressible: the body exceeds 80 KiB
    answer = await put_chunk(client, facility.auth("xrd"), noise)
    assert answer.status == 413
    assert files_in(facility.config.chunk_dir) == []
    assert files_in(facility.config.temp_dir) == []


async def test_a_chunk_body_that_is_not_zstd_is_refused(hub):
    client, facility = hub
    answer = await client.put(f"/api/v1/ingest/chunks/{sha256(b'abc')}", data=b"abc",
                              headers={**facility.auth("xrd"), "Content-Type": "application/zstd"})
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == "malformed_zstd"
    assert files_in(facility.config.chunk_dir) == []


@pytest.mark.parametrize("body", [
    pytest.param(lambda d: compress(d[:10]) + compress(d[10:]), id="two frames"),
    pytest.param(lambda d: zstandard.ZstdCompressor(write_content_size=False).compress(d),
                 id="no declared size")])
async def test_a_chunk_must_be_one_frame_that_declares_its_size(hub, body):
    client, facility = hub
    data = b"a chunk of twenty-nine bytes."
    answer = await client.put(f"/api/v1/ingest/chunks/{sha256(data)}", data=body(data),
                              headers={**facility.auth("xrd"), "Content-Type": "application/zstd"})
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == "malformed_zstd"
    assert files_in(facility.config.chunk_dir) == []


async def enrolled_on_a_hub_with(facility, aiohttp_client, **changes):
    """A hub app with `changes` to the facility's config, and a freshly enrolled device's
    headers on it."""
    client = await aiohttp_client(create_app(dataclasses.replace(facility.config, **changes)))
    enrolled = await client.post("/api/v1/devices/enroll",
                                 json={"code": facility.codes["xrd-1"], "name": "pi"})
    return client, {"Authorization": f"Bearer {(await enrolled.json())['token']}"}


async def test_chunk_uploads_beyond_the_upload_slots_wait_their_turn(facility, aiohttp_client):
    client, headers = await enrolled_on_a_hub_with(facility, aiohttp_client, upload_slots=1)
    pieces = [os.urandom(20000) for _ in range(12)]
    answers = await asyncio.gather(*(put_chunk(client, headers, p) for p in pieces))
    assert [a.status for a in answers] == [201] * 12
    assert len(files_in(facility.config.chunk_dir)) == 12


async def test_a_chunk_of_another_content_type_is_refused(hub):
    client, facility = hub
    answer = await client.put(f"/api/v1/ingest/chunks/{sha256(b'abc')}", data=compress(b"abc"),
                              headers={**facility.auth("xrd"),
                                       "Content-Type": "application/octet-stream"})
    assert answer.status == 415
    assert files_in(facility.config.chunk_dir) == []


@pytest.mark.parametrize("name", ["ABCDEF" + "0" * 58, "..%2F..%2Fetc", "0" * 63, "g" * 64])
async def test_a_chunk_name_that_is_not_a_sha256_is_refused(hub, name):
    client, facility = hub
    answer = await client.put(f"/api/v1/ingest/chunks/{name}", data=compress(b"abc"),
                              headers={**facility.auth("xrd"), "Content-Type": "application/zstd"})
    assert answer.status in (400, 404)
    assert files_in(facility.config.chunk_dir) == []


async def test_a_truncated_chunk_upload_leaves_nothing_behind(hub):
    client, facility = hub
    piece = os.urandom(30000)
    body = compress(piece)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write((f"PUT /api/v1/ingest/chunks/{sha256(piece)} HTTP/1.1\r\n"
                  f"Host: hub\r\nAuthorization: Bearer {facility.tokens['xrd']}\r\n"
                  f"Content-Type: application/zstd\r\nContent-Length: {len(body)}\r\n\r\n"
                  ).encode() + body[:len(body) // 2])
    await writer.drain()
    await asyncio.sleep(0.2)  # let the hub start writing its temporary file
    writer.close()
    for _ in range(100):  # the handler notices the cut connection and cleans up
        if not files_in(facility.config.temp_dir):
            break
        await asyncio.sleep(0.05)
    assert files_in(facility.config.temp_dir) == []
    assert files_in(facility.config.chunk_dir) == []
    answer = await client.post("/api/v1/ingest/offer", json=describe(piece, 64 * 1024),
                               headers=facility.auth("xrd"))
    assert (await answer.json())["missing"] == [sha256(piece)]


async def test_a_full_disk_refuses_chunks_with_507(hub, aiohttp_client):
    _, facility = hub
    config = dataclasses.replace(facility.config, min_free_bytes=2 ** 62)
    client = await aiohttp_client(create_app(config))
    answer = await put_chunk(client, facility.auth("xrd"), b"some bytes")
    assert answer.status == 507
    assert (await answer.json())["error"]["code"] == "storage_full"
    assert files_in(config.chunk_dir) == []


# Commit

async def test_committing_a_file_with_missing_chunks_is_refused_naming_them(hub):
    client, facility = hub
    data = os.urandom(40000)
    pieces = cut(data, 16 * 1024)
    await put_chunk(client, facility.auth("xrd"), pieces[0])
    answer = await client.post("/api/v1/ingest/commit", json=commit_body(data),
                               headers=facility.auth("xrd"))
    assert answer.status == 409
    body = await answer.json()
    assert body["error"]["code"] == "missing_chunks"
    assert body["missing"] == [sha256(pieces[1]), sha256(pieces[2])]
    assert await listed_files(client, facility) == []


async def test_committing_again_with_the_same_upload_id_gives_the_same_file(hub):
    client, facility = hub
    data = os.urandom(20000)
    for piece in cut(data, 16 * 1024):
        await put_chunk(client, facility.auth("xrd"), piece)
    first = await client.post("/api/v1/ingest/commit", json=commit_body(data),
                              headers=facility.auth("xrd"))
    again = await client.post("/api/v1/ingest/commit", json=commit_body(data),
                              headers=facility.auth("xrd"))
    assert first.status == 201 and again.status == 200
    first_body, again_body = await first.json(), await again.json()
    assert set(first_body) == {"file", "committed"} and first_body["committed"] is True
    assert again_body == first_body
    assert [f["id"] for f in await listed_files(client, facility)] == [first_body["file"]]


async def test_reusing_an_upload_id_for_other_content_is_refused(hub):
    client, facility = hub
    first = await upload(client, facility.auth("xrd"), b"version one", upload_id="same")
    other = b"version two"
    await put_chunk(client, facility.auth("xrd"), other)
    answer = await client.post("/api/v1/ingest/commit", json=commit_body(other, "same"),
                               headers=facility.auth("xrd"))
    assert answer.status == 409
    assert (await answer.json())["error"]["code"] == "upload_id_reused"
    assert [f["id"] for f in await listed_files(client, facility)] == [first]


async def test_the_same_upload_id_from_another_device_is_another_file(hub):
    client, facility = hub
    one = await upload(client, facility.auth("xrd"), b"abc", upload_id="u")
    two = await upload(client, facility.auth("sem"), b"abc", upload_id="u")
    assert one != two


async def test_chunks_that_do_not_make_the_files_hash_are_refused(hub):
    client, facility = hub
    data = os.urandom(20000)
    for piece in cut(data, 16 * 1024):
        await put_chunk(client, facility.auth("xrd"), piece)
    body = commit_body(data, sha256=sha256(b"another file"))
    answer = await client.post("/api/v1/ingest/commit", json=body, headers=facility.auth("xrd"))
    assert answer.status == 422
    assert (await answer.json())["error"]["code"] == "hash_mismatch"
    assert await listed_files(client, facility) == []


async def test_a_one_chunk_file_whose_hash_is_not_its_chunks_is_refused(hub):
    client, facility = hub
    data = b"one small chunk"
    await put_chunk(client, facility.auth("xrd"), data)
    body = commit_body(data, sha256=sha256(b"another file"))
    answer = await client.post("/api/v1/ingest/commit", json=body, headers=facility.auth("xrd"))
    assert answer.status == 422
    assert await listed_files(client, facility) == []


async def test_a_chunk_whose_size_is_misstated_is_refused(hub):
    client, facility = hub
    data = b"twenty bytes of data"
    await put_chunk(client, facility.auth("xrd"), data)
    body = commit_body(data, size=len(data) + 5,
                       chunks=[{"sha256": sha256(data), "size": len(data) + 5}])
    answer = await client.post("/api/v1/ingest/commit", json=body, headers=facility.auth("xrd"))
    assert answer.status == 422
    assert "holds 20 bytes" in (await answer.json())["error"]["message"]
    assert await listed_files(client, facility) == []


async def test_many_commits_at_once_each_commit_once(hub):
    client, facility = hub
    files = [os.urandom(3000) for _ in range(40)]
    for data in files:
        await put_chunk(client, facility.auth("xrd"), data)
    answers = await asyncio.gather(*(
        client.post("/api/v1/ingest/commit", json=commit_body(data, f"u-{n % 40}"),
                    headers=facility.auth("xrd"))
        for n, data in enumerate(files * 2)))  # each upload twice, at the same time
    assert sorted(a.status for a in answers) == [200] * 40 + [201] * 40
    ids = [(await a.json())["file"] for a in answers]
    assert ids[:40] == ids[40:]
    assert len(await listed_files(client, facility)) == 40


async def test_a_delete_racing_commits_never_leaves_a_file_without_its_chunks(hub):
    client, facility = hub
    shared = os.urandom(3000)
    first = await upload(client, facility.auth("xrd"), shared, upload_id="first")
    # The chunk is stored, so these commits pass the check before the delete frees it.
    commits = [client.post("/api/v1/ingest/commit", json=commit_body(shared, f"again-{n}"),
                           headers=facility.auth("xrd")) for n in range(20)]
    delete = client.delete(f"/api/v1/files/{first}", headers=facility.auth("root"))
    answers = await asyncio.gather(delete, *commits)
    assert answers[0].status == 200
    assert {a.status for a in answers[1:]} <= {201, 409}
    for file in await listed_files(client, facility):
        content = await client.get(f"/api/v1/files/{file['id']}/content",
                                   headers=facility.auth("root"))
        assert content.status == 200 and await content.read() == shared


async def test_the_instrument_comes_from_the_device_token_never_from_the_body(hub):
    client, facility = hub
    data = b"xrd pattern"
    await put_chunk(client, facility.auth("xrd"), data)
    body = commit_body(data, instrument="sem-1", instrument_id=facility.ids["sem-1"])
    answer = await client.post("/api/v1/ingest/commit", json=body, headers=facility.auth("xrd"))
    assert answer.status == 201
    [listed] = await listed_files(client, facility)
    assert listed["instrument"] == "xrd-1"
    bobs = await client.get("/api/v1/files", headers=facility.auth("bob"))
    assert (await bobs.json())["files"] == []


async def test_an_empty_file_commits_with_no_chunks_and_reads_back_empty(hub):
    client, facility = hub
    file_id = await upload(client, facility.auth("xrd"), b"", "empty.txt")
    answer = await client.get(f"/api/v1/files/{file_id}/content", headers=facility.auth("alice"))
    assert answer.status == 200
    assert await answer.read() == b""


@pytest.mark.parametrize("change, status, code", [
    ({"metadata": {"x": "y" * 5000}}, 413, "metadata_too_large"),
    ({"metadata": ["not", "an", "object"]}, 400, "malformed_request"),
    ({"path": ""}, 400, "malformed_request"),
    ({"upload_id": 7}, 400, "malformed_request"),
    ({"predictions": {"model": "m", "version": "1", "values": {"p": {"value": "high"}}}},
     400, "malformed_request"),
])
async def test_malformed_commits_are_refused_and_commit_nothing(hub, change, status, code):
    client, facility = hub
    data = b"abc"
    await put_chunk(client, facility.auth("xrd"), data)
    answer = await client.post("/api/v1/ingest/commit", json=commit_body(data, **change),
                               headers=facility.auth("xrd"))
    assert answer.status == status
    assert (await answer.json())["error"]["code"] == code
    assert await listed_files(client, facility) == []


# Several files in one commit

async def test_a_commit_of_several_files_answers_each_in_order_and_is_idempotent(hub):
    client, facility = hub
    present, absent, other = os.urandom(3000), os.urandom(3000), os.urandom(2000)
    for data in (present, other):
        await put_chunk(client, facility.auth("xrd"), data)
    body = {"commits": [commit_body(present, "p"), commit_body(absent, "a"),
                        commit_body(other, "o")]}
    answer = await client.post("/api/v1/ingest/commits", json=body, headers=facility.auth("xrd"))
    assert answer.status == 200
    first = (await answer.json())["results"]
    assert [r["status"] for r in first] == [201, 409, 201]
    assert first[1]["error"]["code"] == "missing_chunks"
    assert first[1]["missing"] == [sha256(absent)]
    again = await client.post("/api/v1/ingest/commits", json=body, headers=facility.auth("xrd"))
    second = (await again.json())["results"]
    assert [r["status"] for r in second] == [200, 409, 200]
    assert [second[0]["file"], second[2]["file"]] == [first[0]["file"], first[2]["file"]]
    listed = {f["id"] for f in await listed_files(client, facility)}
    assert listed == {first[0]["file"], first[2]["file"]}


async def test_a_malformed_commit_in_a_batch_refuses_the_whole_batch(hub):
    client, facility = hub
    data = os.urandom(1000)
    await put_chunk(client, facility.auth("xrd"), data)
    body = {"commits": [commit_body(data, "good"), commit_body(data, "bad", size=-1)]}
    answer = await client.post("/api/v1/ingest/commits", json=body, headers=facility.auth("xrd"))
    assert answer.status == 400
    assert (await answer.json())["error"]["message"].startswith("commits[1]: ")
    assert await listed_files(client, facility) == []


async def test_more_files_per_commit_than_allowed_are_refused(facility, aiohttp_client):
    client, headers = await enrolled_on_a_hub_with(facility, aiohttp_client,
                                                   max_files_per_commit=2)
    body = {"commits": [commit_body(b"x", f"u{n}") for n in range(3)]}
    answer = await client.post("/api/v1/ingest/commits", json=body, headers=headers)
    assert answer.status == 413
    assert (await answer.json())["error"]["code"] == "too_many_files"


async def test_people_cannot_commit_batches(hub):
    client, facility = hub
    answer = await client.post("/api/v1/ingest/commits", json={"commits": []},
                               headers=facility.auth("alice"))
    assert answer.status == 403
