"""The model registry: upload, versions, the current model for edges, server-side prediction."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile

import pytest

from model.infer.engine import Predictor
from model.structure_files import read_structure
from tests.hub.conftest import EXAMPLES, SHIPPED_MODEL, files_in

ZIP = {"Content-Type": "application/zip"}


def artifact_zip(metadata_change: dict | None = None, *, leave_out: str | None = None) -> bytes:
    metadata = json.loads((SHIPPED_MODEL / "model.json").read_text())
    metadata.update(metadata_change or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if leave_out != "model.json":
            archive.writestr("model.json", json.dumps(metadata))
        if leave_out != "model.onnx":
            archive.write(SHIPPED_MODEL / "model.onnx", "model.onnx")
        archive.writestr("../../outside.txt", "a hostile member is ignored")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def shipped_zip() -> bytes:
    return artifact_zip()


async def upload_model(client, facility, body: bytes, who: str = "root"):
    return await client.post("/api/v1/models", data=body, headers={**facility.auth(who), **ZIP})


@pytest.mark.asyncio
async def test_an_uploaded_artifact_is_listed_under_its_name_and_version(hub, shipped_zip):
    client, facility = hub
    answer = await upload_model(client, facility, shipped_zip)
    assert answer.status == 201, await answer.text()
    record = await answer.json()
    shipped = json.loads((SHIPPED_MODEL / "model.json").read_text())
    assert (record["name"], record["version"]) == (shipped["name"], shipped["version"])
    listing = await client.get("/api/v1/models", headers=facility.auth("alice"))
    assert [m["sha256"] for m in (await listing.json())["models"]] == [record["sha256"]]
    assert not (facility.config.data_dir.parent / "outside.txt").exists()


@pytest.mark.asyncio
async def test_the_same_artifact_again_is_accepted_as_already_held(hub, shipped_zip):
    client, facility = hub
    first = await (await upload_model(client, facility, shipped_zip)).json()
    again = await upload_model(client, facility, shipped_zip)
    assert again.status == 200
    assert (await again.json())["sha256"] == first["sha256"]


@pytest.mark.asyncio
async def test_other_content_under_a_stored_version_is_refused(hub, shipped_zip):
    client, facility = hub
    first = await (await upload_model(client, facility, shipped_zip)).json()
    changed = artifact_zip({"metrics": {"test": {"mae": 0.0}}})
    answer = await upload_model(client, facility, changed)
    assert answer.status == 409
    assert (await answer.json())["error"]["code"] == "model_version_exists"
    archive = await client.get(f"/api/v1/models/{first['name']}/{first['version']}/archive",
                               headers=facility.auth("alice"))
    assert hashlib.sha256(await archive.read()).hexdigest() == first["sha256"]


@pytest.mark.asyncio
@pytest.mark.parametrize("body, code", [
    (artifact_zip(leave_out="model.onnx"), "bad_artifact"),
    (artifact_zip({"format_version": 99}), "bad_artifact"),
    (artifact_zip({"version": "../../etc"}), "bad_model_name"),
    (b"PK\x03\x04 this is no zip", "bad_archive"),
])
async def test_a_broken_upload_is_refused_and_stores_nothing(hub, body, code):
    client, facility = hub
    answer = await upload_model(client, facility, body)
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == code
    assert files_in(facility.config.model_dir) == []
    assert files_in(facility.config.temp_dir) == []


@pytest.mark.asyncio
async def test_only_admins_upload_models(hub, shipped_zip):
    client, facility = hub
    for who in ("alice", "xrd"):
        answer = await upload_model(client, facility, shipped_zip, who)
        assert answer.status == 403
    assert files_in(facility.config.model_dir) == []


@pytest.mark.asyncio
async def test_edges_download_the_model_marked_current(hub, shipped_zip):
    client, facility = hub
    record = await (await upload_model(client, facility, shipped_zip)).json()
    chosen = await client.put("/api/v1/models/current", headers=facility.auth("root"),
                              json={"name": record["name"], "version": record["version"]})
    assert chosen.status == 200
    current = await (await client.get("/api/v1/models/current",
                                      headers=facility.auth("xrd"))).json()
    assert current == {"name": record["name"], "version": record["version"],
                       "sha256": record["sha256"]}
    archive = await client.get(f"/api/v1/models/{current['name']}/{current['version']}/archive",
                               headers=facility.auth("xrd"))
    assert archive.headers["Content-Type"] == "application/zip"
    data = await archive.read()
    assert hashlib.sha256(data).hexdigest() == current["sha256"]
    with zipfile.ZipFile(io.BytesIO(data)) as held:
        assert sorted(held.namelist()) == ["model.json", "model.onnx"]
        assert held.read("model.onnx") == (SHIPPED_MODEL / "model.onnx").read_bytes()


@pytest.mark.asyncio
async def test_choosing_an_unknown_model_as_current_changes_nothing(hub, shipped_zip):
    client, facility = hub
    answer = await client.put("/api/v1/models/current", headers=facility.auth("root"),
                              json={"name": "perovskite", "version": "no-such"})
    assert answer.status == 404
    current = await client.get("/api/v1/models/current", headers=facility.auth("xrd"))
    assert current.status == 404


@pytest.mark.asyncio
async def test_server_side_prediction_gives_what_the_engine_gives(hub, shipped_zip):
    client, facility = hub
    record = await (await upload_model(client, facility, shipped_zip)).json()
    structure = EXAMPLES / "SrTiO3.cif"
    answer = await client.post(
        f"/api/v1/models/{record['name']}/{record['version']}/predict?filename=SrTiO3.cif",
        data=structure.read_bytes(), headers=facility.auth("alice"))
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    expected = Predictor(SHIPPED_MODEL).predict([read_structure(structure)])[0]
    assert body["formula"] == "O3SrTi"
    assert set(body["values"]) == set(expected)
    for name, value in expected.items():
        assert body["values"][name]["value"] == pytest.approx(value, rel=1e-6, abs=1e-7)
    assert body["values"]["heat_all"]["unit"] == "eV/cell"


@pytest.mark.asyncio
async def test_prediction_of_a_structure_the_model_cannot_judge_is_422(hub, shipped_zip):
    client, facility = hub
    record = await (await upload_model(client, facility, shipped_zip)).json()
    path = f"/api/v1/models/{record['name']}/{record['version']}/predict"
    benzene = await client.post(f"{path}?filename=benzene.xyz",
                                data=(EXAMPLES / "benzene.xyz").read_bytes(),
                                headers=facility.auth("alice"))
    assert benzene.status == 422
    error = (await benzene.json())["error"]
    assert error["code"] == "cannot_predict" and error["message"].startswith("benzene.xyz:")
    assert str(facility.config.temp_dir) not in error["message"]
    unnamed = await client.post(path, data=b"data", headers=facility.auth("alice"))
    assert unnamed.status == 400
    assert files_in(facility.config.temp_dir) == []


def test_the_hub_and_its_prediction_path_never_import_torch_or_pymatgen():
    code = ("import sys; import hub.app, hub.cli, hub.backup, model.infer.engine, "
            "model.structure_files; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pymatgen')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
