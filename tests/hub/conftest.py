"""A real hub on loopback with a small facility: two projects, two instruments, three people.

alice is in project `alloys` (booked on instrument xrd-1), bob in `oxides` (booked
on sem-1), root is an admin. Each test gets fresh SQLite and chunk folders in
tmp_path, enrolment codes for both instruments and bearer tokens for the people.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import zstandard

from hub import accounts
from hub.app import create_app
from hub.auth import issue_token
from hub.config import HubConfig
from hub.database import open_database

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = ROOT / "model" / "pretrained" / "perovskite"
EXAMPLES = ROOT / "kozo" / "examples"


@dataclass
class Facility:
    config: HubConfig
    codes: dict[str, str]  # instrument → one-time enrolment code
    tokens: dict[str, str]  # alice, bob, root → bearer token
    ids: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def hub_config(tmp_path: Path) -> HubConfig:
    return HubConfig(data_dir=tmp_path / "hub", max_chunk_bytes=64 * 1024,
                     max_compressed_chunk_bytes=80 * 1024, max_chunks_per_file=64,
                     max_json_bytes=64 * 1024, max_metadata_bytes=4096)


@pytest.fixture
def facility(hub_config: HubConfig) -> Facility:
    db = open_database(hub_config.database_path)
    ids = {"alice": accounts.add_user(db, "alice", password="alice-password"),
           "bob": accounts.add_user(db, "bob"),
           "root": accounts.add_user(db, "root", admin=True)}
    accounts.add_project(db, "alloys", ["alice"])
    accounts.add_project(db, "oxides", ["bob"])
    ids["xrd-1"] = accounts.add_instrument(db, "xrd-1", ["alloys"], facility="diffraction")
    ids["sem-1"] = accounts.add_instrument(db, "sem-1", ["oxides"])
    codes = {name: accounts.new_enrolment_code(db, name, hours=1)[0]
             for name in ("xrd-1", "sem-1")}
    tokens = {"alice": issue_token(db, "user", user_id=ids["alice"], days=1)[1],
              "bob": issue_token(db, "user", user_id=ids["bob"], days=1)[1],
              "root": issue_token(db, "admin", user_id=ids["root"], days=1)[1]}
    db.close()
    return Facility(hub_config, codes, tokens, ids)


@pytest_asyncio.fixture
async def hub(aiohttp_client, facility: Facility):
    """(client, facility) with devices enrolled for xrd-1 and sem-1 as tokens 'xrd', 'sem'."""
    client = await aiohttp_client(create_app(facility.config))
    for instrument, who in (("xrd-1", "xrd"), ("sem-1", "sem")):
        answer = await client.post("/api/v1/devices/enroll",
                                   json={"code": facility.codes[instrument], "name": f"pi-{who}"})
        assert answer.status == 201, await answer.text()
        facility.tokens[who] = (await answer.json())["token"]
    return client, facility


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cut(data: bytes, chunk_size: int) -> list[bytes]:
    return [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]


def describe(data: bytes, chunk_size: int = 16 * 1024) -> dict:
    """The offer body of `data` cut into chunks of `chunk_size` bytes."""
    return {"sha256": sha256(data), "size": len(data),
            "chunks": [{"sha256": sha256(c), "size": len(c)} for c in cut(data, chunk_size)]}


def compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


async def put_chunk(client, headers: dict, piece: bytes):
    return await client.put(f"/api/v1/ingest/chunks/{sha256(piece)}", data=compress(piece),
                            headers={**headers, "Content-Type": "application/zstd"})


async def upload(client, headers: dict, data: bytes, path: str = "run/sample.cif", *,
                 chunk_size: int = 16 * 1024, predictions: dict | None = None,
                 metadata: dict | None = None, upload_id: str | None = None,
                 modified: float | None = 1764000000.5) -> str:
    """The whole protocol for one file: offer, missing chunks, commit; returns the file id."""
    offer = describe(data, chunk_size)
    answer = await client.post("/api/v1/ingest/offer", json=offer, headers=headers)
    assert answer.status == 200, await answer.text()
    missing = set((await answer.json())["missing"])
    for piece in cut(data, chunk_size):
        if sha256(piece) in missing:
            stored = await put_chunk(client, headers, piece)
            assert stored.status in (200, 201), await stored.text()
    answer = await client.post("/api/v1/ingest/commit", headers=headers, json={
        **offer, "upload_id": upload_id or str(uuid.uuid4()), "path": path,
        "modified": modified, "metadata": metadata or {}, "predictions": predictions,
        "check_error": None})
    assert answer.status in (200, 201), await answer.text()
    return (await answer.json())["file"]


async def log_in(client, name: str, password: str):
    """POST the web page's login form; the answer, not followed."""
    return await client.post("/login", data={"name": name, "password": password},
                             allow_redirects=False)


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
