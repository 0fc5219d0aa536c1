"""Keep the newest model artifact the hub names as current, verified by its sha256.

Guarantee: the quick check only switches to an archive whose sha256 matches
what the hub announced and that unpacks to a readable artifact; a failed or
partial download leaves the previous model in use. Only the newest is kept.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import zipfile
from pathlib import Path

from edge.errors import HubRejected, HubUnavailable
from edge.hub_client import HubClient
from edge.quick_check import QuickCheck

log = logging.getLogger("kozo.edge.models")


async def fetch_current_model(client: HubClient, models: Path) -> Path | None:
    """The folder of the hub's current artifact, downloading it when new; None if none."""
    current = await client.current_model()
    if current is None:
        return None
    name, version, sha256 = current["name"], str(current["version"]), current["sha256"]
    target = models / f"{name}-{version}-{sha256[:12]}"
    if (target / "model.json").is_file():
        return target
    models.mkdir(parents=True, exist_ok=True)
    archive = models / ".download.zip"
    got = await client.download_archive(name, version, archive)
    if got != sha256:
        archive.unlink(missing_ok=True)
        raise HubUnavailable(f"model archive {name} {version}: sha256 {got} instead of the "
                             f"announced {sha256}; keeping the previous model")
    unpacked = models / ".unpacking"
    shutil.rmtree(unpacked, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        for member in ("model.json", "model.onnx"):
            zf.extract(member, unpacked)
    archive.unlink()
    unpacked.rename(target)
    for old in models.iterdir():
        if old != target and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return target


async def follow_hub_model(client: HubClient, models: Path, check: QuickCheck,
                           poll_seconds: float) -> None:
    """Poll the hub and switch the quick check to each new current model."""
    while True:
        try:
            folder = await fetch_current_model(client, models)
            if folder is not None and folder != check.artifact:
                await asyncio.to_thread(check.use, folder)
        except (HubUnavailable, HubRejected, OSError, zipfile.BadZipFile) as error:
            log.warning("model update: %s", error)
        except Exception as error:  # a bad artifact must not stop the daemon
            log.error("model update failed: %r", error)
        await asyncio.sleep(poll_seconds)
