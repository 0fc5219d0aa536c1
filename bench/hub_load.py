"""The hub under the seed deployment's load: 50 devices uploading while 20 users list and download.

    .venv/bin/python -m bench.hub_load [--devices 50] [--users 20] [--files 6] [--size-mib 2]

A real `kozo hub serve` process on loopback; every device enrols with its own
one-time code and uploads through the ingest protocol (offer, chunk PUTs,
commit), with its chunks compressed beforehand as an edge would have them in
its spool, and several files at once as the edge's syncer sends them.
Meanwhile every user lists the newest files and downloads one, in a loop. The
users run in a process of their own, as they sit at machines of their own: in
the devices' process a list reply would wait behind the client's own upload
work, and the bench would time the load generator rather than the hub.
Reports ingest MB/s (original bytes committed per second of wall time) against
the disk's sequential write speed measured in the same run (a file written and
fsynced in the hub's data folder), latency percentiles per call, errors, and the
CPU seconds the hub, the devices and the users spent during the load.
Goals: zero errors, p99 of list calls under 300 ms, ingest at least 50% of the
disk's sequential write speed. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import aiohttp
import zstandard

from bench.edge import instrument_like
from bench.stats import percentile
from edge.config import EdgeConfig
from hub.accounts import (add_instrument, add_project, add_user, new_enrolment_code,
                          user_id)
from hub.auth import issue_token
from hub.database import open_database
from kozo.ports import free_loopback_port

CHUNK = 4 * 1024 * 1024  # original bytes per chunk, as the edge cuts them


def disk_write_speed(folder: Path, size: int = 512 * 1024 * 1024) -> float:
    """Sequential write with one fsync at the end, MB/s: the ceiling ingest is compared with."""
    block = os.urandom(8 * 1024 * 1024)
    path = folder / "disk-speed.bin"
    start = time.perf_counter()
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    path.unlink()
    return size / elapsed / 1e6


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepared_upload(data: bytes, name: str) -> dict:
    """What an edge's spool holds for one file: hashes and zstd frames per chunk."""
    compressor = zstandard.ZstdCompressor(level=3)
    pieces = [data[start:start + CHUNK] for start in range(0, len(data), CHUNK)]
    chunks = [{"sha256": hashlib.sha256(piece).hexdigest(), "size": len(piece)} for piece in pieces]
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "chunks": chunks,
            "frames": [compressor.compress(piece) for piece in pieces], "path": name}


def set_up(data_dir: Path, devices: int, users: int) -> tuple[list[str], list[str]]:
    """Users in one project, ten instruments booked to it, one enrolment code per device."""
    db = open_database(data_dir / "hub.sqlite3")
    names = [f"user{n:02d}" for n in range(users)]
    for name in names:
        add_user(db, name)
    add_project(db, "load", names)
    instruments = [f"instrument-{n}" for n in range(10)]
    for instrument in instruments:
        add_instrument(db, instrument, ["load"])
    codes = [new_enrolment_code(db, instruments[n % len(instruments)], 1.0)[0]
             for n in range(devices)]
    tokens = [issue_token(db, "user", user_id=user_id(db, name), days=1)[1] for name in names]
    db.conn.close()
    return codes, tokens


def histogram_quantile(exposition: str, route: str, q: float) -> float:
    """Upper bound (s) of the bucket holding quantile q of a route's kozo_hub_request_seconds."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets = sorted((float(sample.labels["le"]), sample.value)
                     for family in text_string_to_metric_families(exposition)
                     if family.name == "kozo_hub_request_seconds"
                     for sample in family.samples
                     if sample.name.endswith("_bucket") and sample.labels.get("route") == route)
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    total = buckets[-1][1]
    return next(bound for bound, count in buckets if count >= q * total)


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    async def call(self, kind: str, session: aiohttp.ClientSession, method: str, url: str,
                   ok: tuple[int, ...] = (200, 201), **kwargs):
        start = time.perf_counter()
        try:
            async with session.request(method, url, **kwargs) as response:
                body = await response.read()
                status = response.status
        except aiohttp.ClientError as error:
            self.errors[kind].append(repr(error))
            return None, b""
        self.latency[kind].append(time.perf_counter() - start)
        if status not in ok:
            self.errors[kind].append(f"HTTP {status} {body[:120]!r}")
        return status, body


async def device(url: str, code: str, number: int, uploads: list[dict], record: Recorder,
                 committed: list[int], files_at_once: int) -> None:
    """One Pi: enrol, then send its files `files_at_once` at a time, as the edge's Syncer does."""
    async with aiohttp.ClientSession() as session:
        status, body = await record.call("enroll", session, "POST", f"{url}/api/v1/devices/enroll",
                                         json={"code": code, "name": f"pi-{number}"})
        if status != 201:
            return
        headers = {"Authorization": f"Bearer {json.loads(body)['token']}"}
        slots = asyncio.Semaphore(files_at_once)

        async def send(index: int, upload: dict) -> None:
            async with slots:
                await upload_file(url, session, headers, f"load-{number}-{index}", upload,
                                  record, committed)

        await asyncio.gather(*(send(index, upload) for index, upload in enumerate(uploads)))


async def upload_file(url: str, session: aiohttp.ClientSession, headers: dict, upload_id: str,
                    upload: dict, record: Recorder, committed: list[int]) -> None:
    """Offer, PUT the missing chunks, commit: the ingest protocol for one file."""
    described = {k: upload[k] for k in ("sha256", "size", "chunks")}
    status, body = await record.call("offer", session, "POST", f"{url}/api/v1/ingest/offer",
                                     json=described, headers=headers, ok=(200,))
    missing = set(json.loads(body)["missing"]) if status == 200 else set()
    for chunk, frame in zip(upload["chunks"], upload["frames"], strict=True):
        if chunk["sha256"] in missing:
            await record.call("chunk PUT", session, "PUT",
                              f"{url}/api/v1/ingest/chunks/{chunk['sha256']}", data=frame,
                              headers={**headers, "Content-Type": "application/zstd"})
    status, _ = await record.call(
        "commit", session, "POST", f"{url}/api/v1/ingest/commit", headers=headers,
        json={**described, "upload_id": upload_id, "path": upload["path"],
              "modified": time.time(), "metadata": {"bench": True},
              "predictions": None, "check_error": None})
    if status in (200, 201):
        committed.append(upload["size"])


async def reader(url: str, token: str, record: Recorder, stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(token)
    async with aiohttp.ClientSession(headers=headers) as session:
        while not stop.is_set():
            status, body = await record.call("list", session, "GET",
                                             f"{url}/api/v1/files?limit=50", ok=(200,))
            files = json.loads(body)["files"] if status == 200 else []
            if files:
                chosen = rng.choice(files)
                await record.call("download", session, "GET",
                                  f"{url}/api/v1/files/{chosen['id']}/content", ok=(200,))
            await asyncio.sleep(0.05)


async def read_until(url: str, tokens: list[str], record: Recorder, stop) -> None:
    """Every user's loop, until `stop` (a multiprocessing.Event) is set."""
    stopped = asyncio.Event()
    readers = [asyncio.create_task(reader(url, token, record, stopped)) for token in tokens]
    while not stop.is_set():
        await asyncio.sleep(0.05)
    stopped.set()
    await asyncio.gather(*readers)


def users_process(url: str, tokens: list[str], started, stop, results) -> None:
    """The users' side, in a process of its own; sends back (latency, errors) when stopped."""
    record = Recorder()
    started.set()
    cpu = time.process_time()
    asyncio.run(read_until(url, tokens, record, stop))
    results.send((dict(record.latency), dict(record.errors), time.process_time() - cpu))


async def load(url: str, codes: list[str], uploads: list[list[dict]], files_at_once: int,
               record: Recorder) -> tuple[int, float]:
    committed: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(*(device(url, code, n, uploads[n], record, committed, files_at_once)
                           for n, code in enumerate(codes)))
    return sum(committed), time.perf_counter() - start


def load_with_users(url: str, hub_pid: int, codes: list[str], tokens: list[str], files: int,
                    size: int, files_at_once: int) -> tuple[Recorder, int, float, dict]:
    """Devices upload in this process while the users list and download in another, only
    while the uploads run (the files are compressed beforehand). Also returns the CPU
    seconds each side spent during the load: with two cores, the hub's share bounds ingest."""
    uploads = [[prepared_upload(instrument_like(size, seed=1000 * d + f), f"run-{f}/data-{d}.raw")
                for f in range(files)] for d in range(len(codes))]
    context = multiprocessing.get_context("spawn")
    started, stop = context.Event(), context.Event()
    receiving, sending = context.Pipe(duplex=False)
    users = context.Process(target=users_process, args=(url, tokens, started, stop, sending))
    users.start()
    started.wait(60)
    record = Recorder()
    hub_cpu, devices_cpu = cpu_seconds(hub_pid), time.process_time()
    try:
        ingested, elapsed = asyncio.run(load(url, codes, uploads, files_at_once, record))
    finally:
        stop.set()
    cpu = {"hub": cpu_seconds(hub_pid) - hub_cpu, "devices": time.process_time() - devices_cpu}
    latency, errors, cpu["users"] = receiving.recv()
    users.join(60)
    for kind, values in latency.items():
        record.latency[kind].extend(values)
    for kind, messages in errors.items():
        record.errors[kind].extend(messages)
    return record, ingested, elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--files", type=int, default=6, help="files per device")
    parser.add_argument("--size-mib", type=float, default=2.0, help="size of each file (MiB)")
    parser.add_argument("--files-at-once", type=int, default=EdgeConfig.concurrency,
                        help="files a device sends at once (default: the edge's own, "
                             f"[hub] concurrency = {EdgeConfig.concurrency})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kozo-hub-load-") as folder:
        data_dir = Path(folder) / "hub"
        codes, tokens = set_up(data_dir, args.devices, args.users)
        disk = disk_write_speed(data_dir)
        port = free_loopback_port()
        hub = subprocess.Popen([sys.executable, "-m", "kozo", "hub", "serve", "--data",
                                str(data_dir), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline or hub.poll() is not None:
                        raise SystemExit("the hub did not start")
                    time.sleep(0.2)
            size = int(args.size_mib * 1024 * 1024)
            record, ingested, elapsed, cpu = load_with_users(url, hub.pid, codes, tokens,
                                                             args.files, size,
                                                             args.files_at_once)
            exposition = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
        finally:
            hub.terminate()
            hub.wait(30)
    rate = ingested / elapsed / 1e6
    print(f"hub load: {args.devices} devices × {args.files} files of {args.size_mib:g} MiB "
          f"({args.files_at_once} at once per device), {args.users} users listing and "
          f"downloading (in a process of their own); one hub process on loopback")
    print(f"{'call':<11} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind in ("enroll", "offer", "chunk PUT", "commit", "list", "download"):
        values = record.latency.get(kind, [])
        print(f"{kind:<11} {len(values):>6} {1e3 * percentile(values, 0.5):>8.1f} "
              f"{1e3 * percentile(values, 0.99):>8.1f} {len(record.errors.get(kind, [])):>7}")
    print(f"ingest {rate:.1f} MB/s of original bytes ({ingested / 1e6:.0f} MB in {elapsed:.1f} s); "
          f"disk sequential write {disk:.0f} MB/s; ingest / disk = {rate / disk:.0%} "
          f"(goal ≥ 50%)")
    print(f"list in the hub's handler (its /metrics histogram): p99 ≤ "
          f"{1e3 * histogram_quantile(exposition, '/api/v1/files', 0.99):.0f} ms; the rest of "
          f"the list latency is queueing for the event loop and the CPU")
    print(f"CPU during the load: hub {cpu['hub']:.1f} s, devices {cpu['devices']:.1f} s, users "
          f"{cpu['users']:.1f} s, in {elapsed:.1f} s on {os.cpu_count()} cores; the hub spent "
          f"{cpu['hub'] / (ingested / 1e9):.1f} CPU s per GB ingested (downloads and lists "
          f"included)")
    errors = sum(len(v) for v in record.errors.values())
    print(f"errors: {errors} (goal 0); list p99 {1e3 * percentile(record.latency['list'], 0.99):.0f}"
          f" ms (goal < 300 ms)")
    for kind, messages in record.errors.items():
        for message in messages[:3]:
            print(f"  {kind}: {message}")


if __name__ == "__main__":
    main()
