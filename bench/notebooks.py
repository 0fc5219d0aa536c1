"""Notebook servers through the hub: spawn-to-ready time and the proxy's added latency.

    .venv/bin/python -m bench.notebooks [--spawns 3] [--requests 500]

1. Spawn to ready: POST /api/v1/users/bench/server until the progress stream's
   ready event, a real Jupyter server through the LocalSpawner; median of
   --spawns starts, each followed by a stop (goal < 5 s).
2. Proxy latency: GET /api/status straight from the Jupyter server vs through
   the hub's /user/bench/ proxy, one keep-alive connection each, --requests
   requests each after a warm-up, interleaved; p50 and p90 and their difference
   (goal: the proxy adds < 5 ms at p50).
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import jupyter_server
from aiohttp import web

from bench.stats import percentile
from hub import accounts
from hub.app import create_app
from hub.auth import issue_token
from hub.config import HubConfig
from hub.database import open_database
from hub.state import NOTEBOOKS
from kozo.ports import free_loopback_port


async def spawn_to_ready(http: aiohttp.ClientSession, base: str, headers: dict) -> float:
    started = time.perf_counter()
    async with http.post(f"{base}/api/v1/users/bench/server", headers=headers) as answer:
        assert answer.status in (201, 202), await answer.text()
    async with http.get(f"{base}/api/v1/users/bench/server/progress", headers=headers) as events:
        last = {}
        async for line in events.content:
            if line.startswith(b"data: "):
                last = json.loads(line[6:])
    elapsed = time.perf_counter() - started
    if not last.get("ready"):
        raise SystemExit(f"the server did not start: {last}")
    return elapsed


async def stop(http: aiohttp.ClientSession, base: str, headers: dict) -> None:
    async with http.delete(f"{base}/api/v1/users/bench/server", headers=headers):
        pass
    while True:
        async with http.get(f"{base}/api/v1/users/bench/server", headers=headers) as answer:
            body = await answer.json()
        if body["state"] == "stopped" and body["pending"] is None:
            return
        await asyncio.sleep(0.1)


async def timed_gets(url: str, headers: dict, count: int) -> list[float]:
    timings = []
    async with aiohttp.ClientSession() as http:
        for _ in range(20):  # warm-up: connection, caches
            async with http.get(url, headers=headers) as answer:
                await answer.read()
        for _ in range(count):
            started = time.perf_counter()
            async with http.get(url, headers=headers) as answer:
                await answer.read()
                assert answer.status == 200, answer.status
            timings.append(time.perf_counter() - started)
    return timings


async def main(spawns: int, requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kozo-bench-") as work:
        port = free_loopback_port()
        config = HubConfig(data_dir=Path(work) / "hub", host="127.0.0.1", port=port,
                           spawn_wait_seconds=0.2, cull_idle_seconds=0.0, log_level="WARNING")
        db = open_database(config.database_path)
        user = accounts.add_user(db, "bench")
        token = issue_token(db, "user", user_id=user, days=1)[1]
        db.close()
        app = create_app(config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        try:
            async with aiohttp.ClientSession() as http:
                spawn_times = []
                for _ in range(spawns):
                    spawn_times.append(await spawn_to_ready(http, base, headers))
                    await stop(http, base, headers)
                await spawn_to_ready(http, base, headers)
                info = app[NOTEBOOKS].spawner.server("bench")
                direct_url = info.url + "api/status"
                direct_headers = {"Authorization": f"token {info.token}"}
                direct, proxied = [], []
                for _ in range(5):  # interleaved rounds, so load from elsewhere hits both
                    direct += await timed_gets(direct_url, direct_headers, requests // 5)
                    proxied += await timed_gets(f"{base}/user/bench/api/status", headers,
                                                requests // 5)
                await stop(http, base, headers)
        finally:
            await runner.cleanup()
    ms = 1000.0
    print(f"notebooks through the hub (jupyter-server {jupyter_server.__version__}, "
          f"aiohttp {aiohttp.__version__}; LocalSpawner on loopback)")
    print(f"{'measure':38s} {'value':>10s}  goal")
    print(f"{'spawn to ready, median of ' + str(spawns):38s} "
          f"{statistics.median(spawn_times):9.2f}s  < 5 s "
          f"(all: {', '.join(f'{t:.2f}' for t in spawn_times)})")
    p50_direct, p50_proxied = percentile(direct, 0.5) * ms, percentile(proxied, 0.5) * ms
    print(f"{'GET api/status direct, p50 / p90':38s} {p50_direct:8.2f}ms  "
          f"(p90 {percentile(direct, 0.9) * ms:.2f} ms, n={len(direct)})")
    print(f"{'GET api/status via proxy, p50 / p90':38s} {p50_proxied:8.2f}ms  "
          f"(p90 {percentile(proxied, 0.9) * ms:.2f} ms, n={len(proxied)})")
    print(f"{'proxy adds at p50':38s} {p50_proxied - p50_direct:8.2f}ms  < 5 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spawns", type=int, default=3, help="server starts to time")
    parser.add_argument("--requests", type=int, default=500,
                        help="requests per path (direct, proxied)")
    options = parser.parse_args()
    asyncio.run(main(options.spawns, options.requests))
