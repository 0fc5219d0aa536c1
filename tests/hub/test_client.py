"""The notebook client library (hub.client) against the real hub on loopback.

The client is synchronous (urllib), so each call runs in a worker thread while
the hub answers on the test's event loop. Files arrive through the ingest
protocol, as a device sends them.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import pytest_asyncio

from hub.client import (Forbidden, Hub, HubClientError, HubUnreachable, NotFound,
                        Unauthorized)
from kozo.errors import KozoError
from model.infer.engine import Predictor
from model.structure_files import Structure, read_structure
from tests.hub.conftest import EXAMPLES, SHIPPED_MODEL, upload
from tests.hub.test_models import artifact_zip, upload_model

pytestmark = pytest.mark.asyncio


def heat(value: float) -> dict:
    return {"model": "perovskite", "version": "1",
            "values": {"heat_all": {"value": value, "unit": "eV/cell"}}}


@pytest_asyncio.fixture
async def files(hub):
    """(client, facility, ids): alice's instrument holds three files, bob's one."""
    client, facility = hub
    xrd, sem = facility.auth("xrd"), facility.auth("sem")
    ids = {
        "srtio3": await upload(client, xrd, (EXAMPLES / "SrTiO3.cif").read_bytes(),
                               "runs/SrTiO3.cif", predictions=heat(-1.5), modified=2000.0),
        "nacl": await upload(client, xrd, (EXAMPLES / "NaCl.cif").read_bytes(),
                             "runs/NaCl.cif", predictions=heat(0.5), modified=1000.0),
        "pattern": await upload(client, xrd, b"10.0 3\n20.0 99\n", "runs/pattern.xy",
                                modified=3000.0),
        "bob": await upload(client, sem, b"bob's micrograph", "sem/m.tif"),
    }
    return client, facility, ids


def hub_for(client, facility, who: str, tmp_path: Path) -> Hub:
    return Hub(str(client.make_url("")), facility.tokens[who], cache_dir=tmp_path / "cache")


async def call(function, *args, **kwargs):
    """A client call, in a thread: it blocks, and the hub answers on this loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def content_downloads(client) -> float:
    text = await (await client.get("/metrics")).text()
    found = re.search(r'kozo_hub_requests_total\{method="GET",'
                      r'route="/api/v1/files/\{file_id\}/content",status="200"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def test_files_lists_and_searches_with_the_data_apis_filters(files, tmp_path):
    client, facility, ids = files
    hub = hub_for(client, facility, "alice", tmp_path)
    listed = await call(hub.files)
    assert [f["id"] for f in listed] == [ids["pattern"], ids["srtio3"], ids["nacl"]]  # newest first
    assert ids["bob"] not in {f["id"] for f in listed}
    assert [f["id"] for f in await call(hub.files, name="srti")] == [ids["srtio3"]]
    assert [f["id"] for f in await call(hub.search, property="heat_all", max=0)] == [ids["srtio3"]]
    assert [f["id"] for f in await call(hub.files, since=1500, until=2500)] == [ids["srtio3"]]
    assert len(await call(hub.files, limit=2)) == 2
    assert await call(hub.files, instrument="sem-1") == []
    assert (await call(hub.me))["name"] == "alice"


async def test_read_bytes_gives_the_original_bytes(files, tmp_path):
    client, facility, ids = files
    hub = hub_for(client, facility, "alice", tmp_path)
    assert await call(hub.read_bytes, ids["pattern"]) == b"10.0 3\n20.0 99\n"
    assert await call(hub.read_bytes, ids["srtio3"]) == (EXAMPLES / "SrTiO3.cif").read_bytes()


async def test_a_cached_path_is_downloaded_once(files, tmp_path):
    client, facility, ids = files
    hub = hub_for(client, facility, "alice", tmp_path)
    entry = (await call(hub.files, name="SrTiO3"))[0]
    first = await call(hub.path, entry)
    assert first.read_bytes() == (EXAMPLES / "SrTiO3.cif").read_bytes()
    assert first.parent.name == entry["sha256"] and first.name == "SrTiO3.cif"
    assert await content_downloads(client) == 1
    assert await call(hub.path, entry) == first
    assert await call(hub.path, ids["srtio3"]) == first  # by id: details, but no download
    assert await call(hub.read_bytes, entry) == first.read_bytes()
    assert await content_downloads(client) == 1
    offline = Hub("http://127.0.0.1:9", facility.tokens["alice"], cache_dir=tmp_path / "cache")
    assert await call(offline.path, entry) == first  # a listing entry needs no hub at all


async def test_a_structure_file_opens_as_a_structure(files, tmp_path):
    client, facility, ids = files
    hub = hub_for(client, facility, "alice", tmp_path)
    ours = await call(hub.structure, ids["srtio3"], reader="kozo")
    assert isinstance(ours, Structure) and ours.formula == "O3SrTi"
    pytest.importorskip("pymatgen.core")
    theirs = await call(hub.structure, ids["srtio3"])
    assert theirs.composition.reduced_formula == "SrTiO3"
    assert theirs.lattice.abc == pytest.approx(tuple(ours.cell.diagonal()), abs=1e-6)


async def test_predictions_are_those_the_edge_sent(files, tmp_path):
    client, facility, ids = files
    hub = hub_for(client, facility, "alice", tmp_path)
    assert await call(hub.predictions, ids["nacl"]) == heat(0.5)
    assert await call(hub.predictions, ids["pattern"]) is None


async def test_the_quick_check_predicts_on_the_hub_with_the_current_model(files, tmp_path):
    client, facility, ids = files
    record = await (await upload_model(client, facility, artifact_zip())).json()
    chosen = await client.put("/api/v1/models/current", headers=facility.auth("root"),
                              json={"name": record["name"], "version": record["version"]})
    assert chosen.status == 200
    hub = hub_for(client, facility, "alice", tmp_path)
    expected = Predictor(SHIPPED_MODEL).predict([read_structure(EXAMPLES / "SrTiO3.cif")])[0]
    for structure in (ids["srtio3"], EXAMPLES / "SrTiO3.cif"):
        result = await call(hub.quick_check, structure)
        assert (result["model"], result["version"]) == (record["name"], record["version"])
        assert result["formula"] == "O3SrTi"
        assert set(result["values"]) == set(expected)
        for name, value in expected.items():
            assert result["values"][name]["value"] == pytest.approx(value, rel=1e-6, abs=1e-7)
    with pytest.raises(HubClientError, match="cannot_predict") as refused:
        await call(hub.quick_check, EXAMPLES / "benzene.xyz")
    assert refused.value.status == 422


async def test_refusals_carry_the_hubs_message(files, tmp_path):
    client, facility, ids = files
    alice = hub_for(client, facility, "alice", tmp_path)
    with pytest.raises(NotFound, match="no file") as missing:
        await call(alice.read_bytes, "file_does_not_exist")
    assert (missing.value.status, missing.value.code) == (404, "unknown_file")
    bob = hub_for(client, facility, "bob", tmp_path)
    with pytest.raises(NotFound):  # another project's file is as unknown as a missing one
        await call(bob.read_bytes, ids["srtio3"])
    with pytest.raises(Forbidden, match="device token"):
        await call(hub_for(client, facility, "xrd", tmp_path).files)
    with pytest.raises(Unauthorized, match="unknown token"):
        await call(Hub(str(client.make_url("")), "kozo_usr_wrong").files)
    with pytest.raises(NotFound, match="no_current_model"):
        await call(alice.quick_check, ids["srtio3"])
    with pytest.raises(HubUnreachable, match="cannot reach the hub"):
        Hub("http://127.0.0.1:9", "kozo_usr_x", timeout=5).files()
    assert issubclass(HubClientError, KozoError)
    assert not list((tmp_path / "cache").rglob("*.part-*"))


async def test_the_url_and_token_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KOZO_HUB_URL", "http://hub.example:8470/")
    monkeypatch.setenv("KOZO_HUB_TOKEN", "kozo_usr_secret")
    monkeypatch.setenv("KOZO_CACHE_DIR", str(tmp_path / "c"))
    hub = Hub()
    assert (hub.url, hub.token, hub.cache_dir) == ("http://hub.example:8470", "kozo_usr_secret",
                                                   tmp_path / "c")
    assert "kozo_usr_secret" not in repr(hub)
    monkeypatch.delenv("KOZO_HUB_TOKEN")
    with pytest.raises(HubClientError, match="KOZO_HUB_TOKEN"):
        Hub()
