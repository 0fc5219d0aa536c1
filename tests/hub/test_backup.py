"""`kozo hub backup` and `kozo hub restore`, taken while the hub serves."""

from __future__ import annotations

import dataclasses
import os

import pytest

from hub.app import create_app
from kozo.cli import main
from tests.hub.conftest import SHIPPED_MODEL, files_in, upload
from tests.hub.test_models import artifact_zip

pytestmark = pytest.mark.asyncio


async def test_a_backup_taken_while_serving_restores_a_hub_with_the_same_files(
        hub, aiohttp_client, tmp_path, capsys):
    client, facility = hub
    data = os.urandom(50_000)
    file_id = await upload(client, facility.auth("xrd"), data, "kept.raw")
    gone = await upload(client, facility.auth("xrd"), b"deleted before the backup", "gone.raw")
    await client.delete(f"/api/v1/files/{gone}", headers=facility.auth("root"))
    model = await (await client.post("/api/v1/models", data=artifact_zip(),
                                     headers={**facility.auth("root"),
                                              "Content-Type": "application/zip"})).json()

    backup = tmp_path / "backup"
    assert main(["hub", "backup", str(backup), "--data", str(facility.config.data_dir)]) == 0
    assert "backed up 1 files (4 chunks) and 1 models" in capsys.readouterr().out
    late = await upload(client, facility.auth("xrd"), b"after the backup", "late.raw")

    restored = dataclasses.replace(facility.config, data_dir=tmp_path / "restored")
    assert main(["hub", "restore", str(backup), "--data", str(restored.data_dir)]) == 0
    second = await aiohttp_client(create_app(restored))
    listing = await (await second.get("/api/v1/files", headers=facility.auth("alice"))).json()
    assert [f["id"] for f in listing["files"]] == [file_id]
    content = await second.get(f"/api/v1/files/{file_id}/content", headers=facility.auth("alice"))
    assert await content.read() == data
    archive = await second.get(f"/api/v1/models/{model['name']}/{model['version']}/archive",
                               headers=facility.auth("alice"))
    assert archive.status == 200
    assert late not in {f["id"] for f in listing["files"]}


async def test_a_backup_into_a_folder_that_is_not_empty_is_refused(hub, tmp_path, capsys):
    _, facility = hub
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "precious.txt").write_text("keep")
    assert main(["hub", "backup", str(backup), "--data", str(facility.config.data_dir)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in backup.iterdir()] == ["precious.txt"]


async def test_restoring_over_an_existing_hub_is_refused_and_changes_nothing(hub, tmp_path,
                                                                            capsys):
    client, facility = hub
    await upload(client, facility.auth("xrd"), b"original", "o.raw")
    backup = tmp_path / "backup"
    assert main(["hub", "backup", str(backup), "--data", str(facility.config.data_dir)]) == 0
    before = {p: p.read_bytes() for p in files_in(facility.config.chunk_dir)}
    assert main(["hub", "restore", str(backup), "--data", str(facility.config.data_dir)]) == 2
    assert "holds a hub database already" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in files_in(facility.config.chunk_dir)} == before


async def test_a_backup_that_lost_a_chunk_is_not_restored(hub, tmp_path, capsys):
    client, facility = hub
    await upload(client, facility.auth("xrd"), os.urandom(20_000), "o.raw")
    backup = tmp_path / "backup"
    assert main(["hub", "backup", str(backup), "--data", str(facility.config.data_dir)]) == 0
    files_in(backup / "chunks")[0].unlink()
    target = tmp_path / "restored"
    assert main(["hub", "restore", str(backup), "--data", str(target)]) == 2
    assert "lacks 1 chunks" in capsys.readouterr().err
    assert not (target / "hub.sqlite3").exists()


async def test_restoring_something_that_is_no_backup_is_refused(tmp_path, capsys):
    assert main(["hub", "restore", str(SHIPPED_MODEL), "--data", str(tmp_path / "t")]) == 2
    assert "not a kozo hub backup" in capsys.readouterr().err
