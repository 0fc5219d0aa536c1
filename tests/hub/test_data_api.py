"""Reading files back: who sees what, downloads with ranges, search, delete."""

from __future__ import annotations

import json
import os

import pytest

from hub.database import open_database
from tests.hub.conftest import files_in, upload

pytestmark = pytest.mark.asyncio


def heat(value: float) -> dict:
    return {"model": "perovskite", "version": "1",
            "values": {"heat_all": {"value": value, "unit": "eV/cell"},
                       "ind_gap": {"value": 1.0, "unit": "eV"}}}


async def get_json(client, path: str, headers: dict, status: int = 200):
    answer = await client.get(path, headers=headers)
    assert answer.status == status, await answer.text()
    return await answer.json()


async def ids_seen(client, headers: dict, query: str = "") -> set[str]:
    body = await get_json(client, f"/api/v1/files{query}", headers)
    return {f["id"] for f in body["files"]}


async def test_a_user_sees_only_the_files_of_their_projects(hub):
    client, facility = hub
    xrd = await upload(client, facility.auth("xrd"), b"alloy pattern", "a.xy")
    sem = await upload(client, facility.auth("sem"), b"oxide image", "b.tif")
    assert await ids_seen(client, facility.auth("alice")) == {xrd}
    assert await ids_seen(client, facility.auth("bob")) == {sem}
    assert await ids_seen(client, facility.auth("root")) == {xrd, sem}


async def test_a_user_cannot_reach_another_projects_file_by_its_id(hub):
    client, facility = hub
    sem = await upload(client, facility.auth("sem"), b"oxide image", "b.tif")
    for suffix in ("", "/content", "/predictions"):
        body = await get_json(client, f"/api/v1/files/{sem}{suffix}", facility.auth("alice"), 404)
        assert body["error"]["code"] == "unknown_file"
    missing = await get_json(client, "/api/v1/files/file_nonexistent", facility.auth("alice"), 404)
    assert missing["error"]["code"] == "unknown_file"  # the same answer: nothing is revealed


async def test_a_user_asking_for_another_projects_files_gets_none(hub):
    client, facility = hub
    await upload(client, facility.auth("sem"), b"oxide image", "b.tif")
    assert await ids_seen(client, facility.auth("alice"), "?project=oxides") == set()
    assert await ids_seen(client, facility.auth("alice"), "?instrument=sem-1") == set()


async def test_a_device_cannot_read_files_not_even_its_own(hub):
    client, facility = hub
    own = await upload(client, facility.auth("xrd"), b"alloy pattern", "a.xy")
    for path in ("/api/v1/files", f"/api/v1/files/{own}", f"/api/v1/files/{own}/content",
                 f"/api/v1/files/{own}/predictions"):
        body = await get_json(client, path, facility.auth("xrd"), 403)
        assert body["error"]["code"] == "insufficient_scope"


async def test_a_download_gives_back_the_original_bytes(hub):
    client, facility = hub
    data = os.urandom(100_000)  # seven chunks of 16 KiB
    file_id = await upload(client, facility.auth("xrd"), data, "big.raw")
    answer = await client.get(f"/api/v1/files/{file_id}/content", headers=facility.auth("alice"))
    assert answer.status == 200
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert await answer.read() == data


@pytest.mark.parametrize("header, start, stop", [
    ("bytes=0-0", 0, 1),
    ("bytes=100-40000", 100, 40001),  # across three chunks
    ("bytes=16384-32767", 16384, 32768),  # exactly the second chunk
    ("bytes=99990-", 99990, 100_000),
    ("bytes=-10", 99990, 100_000),
    ("bytes=95000-200000", 95000, 100_000),  # an end past the file is cut to it
])
async def test_a_range_request_gives_exactly_the_requested_bytes(hub, header, start, stop):
    client, facility = hub
    data = os.urandom(100_000)
    file_id = await upload(client, facility.auth("xrd"), data, "big.raw")
    answer = await client.get(f"/api/v1/files/{file_id}/content",
                              headers={**facility.auth("alice"), "Range": header})
    assert answer.status == 206
    assert answer.headers["Content-Range"] == f"bytes {start}-{stop - 1}/100000"
    assert await answer.read() == data[start:stop]


@pytest.mark.parametrize("header", ["bytes=50-10", "bytes=0-1,5-6", "items=0-1", "bytes=-"])
async def test_a_range_we_do_not_serve_as_a_range_gives_the_whole_file(hub, header):
    client, facility = hub
    file_id = await upload(client, facility.auth("xrd"), b"0123456789" * 10, "t.txt")
    answer = await client.get(f"/api/v1/files/{file_id}/content",
                              headers={**facility.auth("alice"), "Range": header})
    assert answer.status == 200
    assert await answer.read() == b"0123456789" * 10


async def test_a_range_past_the_end_is_not_satisfiable(hub):
    client, facility = hub
    file_id = await upload(client, facility.auth("xrd"), b"0123456789", "short.txt")
    answer = await client.get(f"/api/v1/files/{file_id}/content",
                              headers={**facility.auth("alice"), "Range": "bytes=10-20"})
    assert answer.status == 416
    assert (await answer.json())["error"]["code"] == "range_not_satisfiable"


async def test_searching_by_a_predicted_property_range_finds_only_files_inside_it(hub):
    client, facility = hub
    inside = await upload(client, facility.auth("xrd"), b"one", "one.cif", predictions=heat(-1.2))
    await upload(client, facility.auth("xrd"), b"two", "two.cif", predictions=heat(-3.0))
    await upload(client, facility.auth("xrd"), b"three", "three.cif", predictions=heat(0.5))
    await upload(client, facility.auth("xrd"), b"four", "four.cif")  # no predictions
    query = "?property=heat_all&min=-2&max=0"
    assert await ids_seen(client, facility.auth("alice"), query) == {inside}


async def test_searching_by_name_instrument_and_time(hub):
    client, facility = hub
    early = await upload(client, facility.auth("xrd"), b"1", "runs/NaCl_100.cif", modified=1000.0)
    late = await upload(client, facility.auth("xrd"), b"2", "runs/nacl_200.cif", modified=2000.0)
    other = await upload(client, facility.auth("xrd"), b"3", "runs/KCl.cif", modified=3000.0)
    bob_file = await upload(client, facility.auth("sem"), b"4", "NaCl.tif", modified=1500.0)
    root = facility.auth("root")
    assert await ids_seen(client, root, "?name=nacl") == {early, late, bob_file}
    assert await ids_seen(client, root, "?name=nacl&instrument=xrd-1") == {early, late}
    assert await ids_seen(client, root, "?since=1500&until=3000") == {late, bob_file}
    assert await ids_seen(client, root, "?project=alloys") == {early, late, other}
    assert await ids_seen(client, root, "?name=%25") == set()  # % is a character, not a wildcard


async def test_listing_pages_with_limit_and_offset(hub):
    client, facility = hub
    made = {await upload(client, facility.auth("xrd"), bytes([n]), f"{n}.bin", modified=n)
            for n in range(5)}
    first = await get_json(client, "/api/v1/files?limit=3", facility.auth("alice"))
    rest = await get_json(client, f"/api/v1/files?limit=3&offset={first['next_offset']}",
                          facility.auth("alice"))
    assert first["next_offset"] == 3 and rest["next_offset"] is None
    assert {f["id"] for f in first["files"] + rest["files"]} == made


@pytest.mark.parametrize("query", ["?min=1", "?limit=0", "?limit=abc", "?since=nan"])
async def test_a_malformed_query_is_refused(hub, query):
    client, facility = hub
    body = await get_json(client, f"/api/v1/files{query}", facility.auth("alice"), 400)
    assert body["error"]["code"] == "malformed_query"


async def test_a_files_details_hold_its_metadata_predictions_and_projects(hub):
    client, facility = hub
    file_id = await upload(client, facility.auth("xrd"), b"abc", "d/x.cif",
                           metadata={"operator": "alice", "scan": {"steps": 3}},
                           predictions=heat(-1.0))
    body = await get_json(client, f"/api/v1/files/{file_id}", facility.auth("alice"))
    assert body["metadata"] == {"operator": "alice", "scan": {"steps": 3}}
    assert body["projects"] == ["alloys"]
    assert (body["instrument"], body["path"], body["name"], body["size"]) == \
        ("xrd-1", "d/x.cif", "x.cif", 3)
    predictions = await get_json(client, f"/api/v1/files/{file_id}/predictions",
                                 facility.auth("alice"))
    assert predictions["predictions"] == heat(-1.0)


ODD_PATHS = ["../../../../etc/passwd", "/absolute/evil.cif", "C:\\Windows\\system.ini",
             'quote"and\nnewline;.cif', "ünïcödé 文件.cif", "..", "a/./b/../../../c"]


@pytest.mark.parametrize("path", ODD_PATHS)
async def test_odd_paths_and_metadata_are_kept_as_data_and_harmless(hub, path):
    client, facility = hub
    hub_files_before = set(files_in(facility.config.data_dir.parent))
    metadata = {"../key": "'; DROP TABLE files; --", "nested": {"\u0000": path}}
    file_id = await upload(client, facility.auth("xrd"), b"content", path, metadata=metadata)
    body = await get_json(client, f"/api/v1/files/{file_id}", facility.auth("alice"))
    assert body["path"] == path and body["metadata"] == metadata
    answer = await client.get(f"/api/v1/files/{file_id}/content", headers=facility.auth("alice"))
    disposition = answer.headers["Content-Disposition"]
    assert "\n" not in disposition and disposition.startswith("attachment;")
    assert await answer.read() == b"content"
    new_files = set(files_in(facility.config.data_dir.parent)) - hub_files_before
    assert all(facility.config.data_dir in p.parents for p in new_files)
    assert not any(p.name in path for p in new_files)  # no file is named after the path


async def test_an_admin_deletes_a_file_with_an_audit_record_and_frees_unshared_chunks(hub):
    client, facility = hub
    shared = os.urandom(16 * 1024)
    gone = await upload(client, facility.auth("xrd"), shared + b"own tail", "gone.raw")
    kept = await upload(client, facility.auth("sem"), shared, "kept.raw")
    answer = await client.delete(f"/api/v1/files/{gone}", headers=facility.auth("root"))
    assert answer.status == 200
    assert await answer.json() == {"file": gone, "deleted": True, "chunks_freed": 1}
    assert await ids_seen(client, facility.auth("root")) == {kept}
    assert len(files_in(facility.config.chunk_dir)) == 1
    kept_bytes = await client.get(f"/api/v1/files/{kept}/content", headers=facility.auth("bob"))
    assert await kept_bytes.read() == shared
    db = open_database(facility.config.database_path)
    [record] = db.query("SELECT * FROM audit WHERE action = 'file.delete'")
    assert record["target"] == gone and record["actor"] == facility.ids["root"]
    assert json.loads(record["detail"])["path"] == "gone.raw"


async def test_users_and_devices_cannot_delete_files(hub):
    client, facility = hub
    file_id = await upload(client, facility.auth("xrd"), b"keep me", "k.raw")
    for who in ("alice", "xrd"):
        answer = await client.delete(f"/api/v1/files/{file_id}", headers=facility.auth(who))
        assert answer.status == 403
    assert await ids_seen(client, facility.auth("alice")) == {file_id}
    db = open_database(facility.config.database_path)
    assert list(db.query("SELECT * FROM audit WHERE action = 'file.delete'")) == []


async def test_a_deleted_file_committed_again_with_its_upload_id_stays_deleted(hub):
    client, facility = hub
    file_id = await upload(client, facility.auth("xrd"), b"once", "o.raw", upload_id="u-9")
    await client.delete(f"/api/v1/files/{file_id}", headers=facility.auth("root"))
    again = await upload(client, facility.auth("xrd"), b"once", "o.raw", upload_id="u-9")
    assert again == file_id
    assert await ids_seen(client, facility.auth("root")) == set()
