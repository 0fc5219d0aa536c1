"""The edge's ingest path against the zstd command line, small files per second, latency.

    .venv/bin/python -m bench.edge [--small-files 10000] [--latency-files 40]

1. Ingest throughput: our Spool.ingest (read, sha256 of file and chunks, zstd per
   4 MiB chunk, fsync) vs `zstd -LEVEL` on the same files, same level; MB/s of
   original bytes and the ratio (goal: kozo ≥ 80% of zstd).
2. Small files per second end to end: a real daemon and the real hub (`kozo hub
   serve`) over loopback, files written into the watched folder until all are committed (goal ≥ 200/s).
3. Latency from a file's close to its commit at the hub, p50 (goal < 1 s), with
   the settle time stated (it is part of the latency by design).
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge.spool import Spool
from tests.edge.processes import DaemonProcess, write_edge_config
from tests.edge.real_hub import Facility


def instrument_like(size: int, seed: int) -> bytes:
    """Half text-like columns (compressible), half noise, as detector files tend to be."""
    import random
    rng = random.Random(seed)
    lines, length = [], 0
    while length < size // 2:
        lines.append(f"{rng.uniform(0, 90):.4f} {rng.randint(0, 65535):6d}\n".encode())
        length += len(lines[-1])
    return (b"".join(lines) + os.urandom(size // 2))[:size]


def zstd_version() -> str:
    return subprocess.run(["zstd", "--version"], capture_output=True, text=True).stdout.strip()


def throughput(work: Path, level: int, files: int, size: int) -> list[str]:
    sources = work / "sources"
    sources.mkdir()
    paths = []
    for i in range(files):
        path = sources / f"f{i}.dat"
        path.write_bytes(instrument_like(size, i))
        paths.append(path)
    total = files * size
    rows = []
    kozo_times, zstd_times = [], []
    for repeat in range(5):  # best of 5: the machine may be shared
        spool_dir = work / f"spool{repeat}"
        spool = Spool(spool_dir, zstd_level=level)
        start = time.perf_counter()
        for path in paths:
            spool.ingest(path, path.name)
        kozo_times.append(time.perf_counter() - start)
        stored = sum(e.stored_size for e in spool.pending(limit=files))
        spool.close()
        shutil.rmtree(spool_dir)
        out = work / f"zstd{repeat}"
        out.mkdir()
        start = time.perf_counter()
        subprocess.run(["zstd", f"-{level}", "-q", "-f", "--output-dir-flat", str(out),
                        *map(str, paths)], check=True)
        subprocess.run(["sync", "-f", str(out)], check=True)  # kozo fsyncs; make zstd's durable too
        zstd_times.append(time.perf_counter() - start)
        zstd_stored = sum(p.stat().st_size for p in out.iterdir())
        shutil.rmtree(out)
    kozo_mb = total / min(kozo_times) / 1e6
    zstd_mb = total / min(zstd_times) / 1e6
    rows.append(f"ingest {files}×{size // 2**20} MiB, level {level}: kozo {kozo_mb:7.1f} MB/s "
                f"(ratio {total / stored:.2f}), zstd CLI {zstd_mb:7.1f} MB/s "
                f"(ratio {total / zstd_stored:.2f}); kozo/zstd = {kozo_mb / zstd_mb:.0%} "
                f"(goal ≥ 80%)")
    return rows


def committed_count(facility: Facility, instrument: str) -> int:
    """Files the hub has committed for `instrument`, read from its database as an observer
    (listing 10,000 files through the API on every poll would load the hub being measured)."""
    with sqlite3.connect(f"file:{facility.hub.data / 'hub.sqlite3'}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM files f JOIN instruments i "
                          "ON i.id = f.instrument_id WHERE i.name = ?", [instrument]).fetchone()[0]


def enrolled_daemon(work: Path, facility: Facility, name: str, settle: float):
    folder, config_dir = work / name, work / f"{name}-edge"
    folder.mkdir()
    config_dir.mkdir()
    device = facility.enrol(config_dir / "credential.json", config_dir / "downloads")
    config = write_edge_config(config_dir, folders=[folder], hub_url=facility.hub.url,
                               settle_seconds=settle, scan_interval_seconds=3600,
                               credential=config_dir / "credential.json")
    daemon = DaemonProcess(config, work / f"{name}.log").start()
    while "watching" not in daemon.log_text():
        time.sleep(0.05)
    return folder, device, daemon


def small_files(work: Path, facility: Facility, count: int) -> list[str]:
    folder, device, daemon = enrolled_daemon(work, facility, "small", settle=0.2)
    try:
        start = time.perf_counter()
        for i in range(count):
            sub = folder / f"d{i // 500}"
            sub.mkdir(exist_ok=True)
            (sub / f"s{i}.dat").write_bytes(f"small file {i}\n".encode() * 8)
        written = time.perf_counter() - start
        while committed_count(facility, device.name) < count:
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
    finally:
        daemon.stop()
    return [f"small files: {count} files committed in {elapsed:.1f} s = {count / elapsed:6.0f} "
            f"files/s (writing them took {written:.1f} s; goal ≥ 200/s)"]


def latency(work: Path, facility: Facility, count: int, settle: float) -> list[str]:
    folder, device, daemon = enrolled_daemon(work, facility, "latency", settle=settle)
    times = []
    try:
        for i in range(count):
            before = committed_count(facility, device.name)
            with open(folder / f"l{i}.dat", "wb") as out:
                out.write(os.urandom(20_000))
            closed = time.perf_counter()
            while committed_count(facility, device.name) == before:
                time.sleep(0.002)
            times.append(time.perf_counter() - closed)
    finally:
        daemon.stop()
    return [f"latency close → commit at hub: p50 {statistics.median(times) * 1000:6.0f} ms, "
            f"max {max(times) * 1000:.0f} ms over {count} files, settle_seconds = {settle} "
            "(goal p50 < 1 s)"]


def peak_memory(work: Path, facility: Facility, size: int) -> list[str]:
    """The daemon's peak resident memory (VmHWM) while it spools and sends one large file."""
    folder, device, daemon = enrolled_daemon(work, facility, "large", settle=0.2)
    try:
        with open(work / "large.part", "wb") as out:
            for start in range(0, size, 64 * 2**20):
                out.write(instrument_like(min(64 * 2**20, size - start), seed=start))
        os.rename(work / "large.part", folder / "large.raw")
        start = time.perf_counter()
        while committed_count(facility, device.name) < 1:
            time.sleep(0.5)
        elapsed = time.perf_counter() - start
        status = Path(f"/proc/{daemon.process.pid}/status").read_text()
        peak_kib = int(next(line.split()[1] for line in status.splitlines()
                            if line.startswith("VmHWM:")))
    finally:
        daemon.stop()
    return [f"large file: {size / 2**30:.1f} GiB spooled and committed in {elapsed:.0f} s; "
            f"daemon peak resident memory {peak_kib / 1024:.0f} MiB (goal < 150 MB)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=int, default=3)
    parser.add_argument("--files", type=int, default=8, help="files for the throughput row")
    parser.add_argument("--size", type=int, default=16 * 2**20, help="bytes per file")
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--latency-files", type=int, default=40)
    parser.add_argument("--settle", type=float, default=0.2, help="settle_seconds for latency")
    parser.add_argument("--large", type=float, default=2.0,
                        help="GiB of the file sent while the daemon's memory is watched")
    args = parser.parse_args()
    print(f"kozo edge bench ({zstd_version()}; python {sys.version.split()[0]}; "
          f"{os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for row in throughput(work, args.level, args.files, args.size):
            print(row, flush=True)
        facility = Facility(work / "hub")  # the real hub, `kozo hub serve`, on loopback
        try:
            for stage in (lambda: small_files(work, facility, args.small_files),
                          lambda: latency(work, facility, args.latency_files, args.settle),
                          lambda: peak_memory(work, facility, int(args.large * 2**30))):
                for row in stage():
                    print(row, flush=True)
        finally:
            facility.hub.stop()


if __name__ == "__main__":
    main()
