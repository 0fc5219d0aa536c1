"""The notebook machinery over the hub's lifetime: make the spawner, reconcile, cull, let go.

At start the hub reconciles: servers that survived a restart are adopted (their
routes work at once) and leftovers are removed, so no orphan runs and no stale
route answers 503. While serving, servers with no proxied traffic for
`cull_idle_seconds` are stopped. At shutdown running servers are left running on
purpose: a hub restart (an upgrade, a crash) should not kill users' kernels, and
the next start adopts them; starts still under way are cancelled, which removes
what they created.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

from aiohttp import web

from hub.config import ConfigError, HubConfig
from hub.spawners import Spawner
from hub.state import CONFIG, NOTEBOOKS

log = logging.getLogger("kozo.hub")
SPAWNERS = ("local", "kubernetes")


async def make_spawner(config: HubConfig) -> tuple[Spawner, object | None]:
    """The configured spawner, and what must be closed with it (a Kubernetes API client)."""
    if config.spawner == "local":
        from hub.spawners.local import LocalSpawner
        return LocalSpawner(root_dir=config.notebook_root, hub_url=config.public_hub_url,
                            start_timeout=config.spawn_timeout_seconds,
                            poll_interval=0.1), None
    if config.spawner == "kubernetes":
        if not config.hub_url:
            raise ConfigError("spawner = 'kubernetes' needs hub_url: the hub's URL as the "
                              "pods reach it, e.g. http://kozo-hub.kozo.svc:8470")
        from kubernetes_asyncio import client, config as kube_config

        from hub.spawners.kubernetes import KubernetesSpawner
        try:
            kube_config.load_incluster_config()
        except kube_config.ConfigException:
            await kube_config.load_kube_config()
        api = client.ApiClient()
        return KubernetesSpawner(api, namespace=config.kubernetes_namespace,
                                 image=config.kubernetes_image, hub_url=config.public_hub_url,
                                 start_timeout=config.spawn_timeout_seconds), api
    raise ConfigError(f"spawner must be one of {', '.join(SPAWNERS)}; got {config.spawner!r}")


def cull_interval(idle_seconds: float) -> float:
    """Seconds between idle checks: a tenth of the idle time, between 0.1 and 60."""
    return min(60.0, max(0.1, idle_seconds / 10))


async def notebook_lifetime(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: spawner and reconcile at start, culling while serving, no stops at exit."""
    config, notebooks = app[CONFIG], app[NOTEBOOKS]
    notebooks.spawner, closable = await make_spawner(config)
    found = await notebooks.adopt_or_clean()
    if found.adopted or found.removed:
        log.info(f"notebook servers adopted: {', '.join(found.adopted) or 'none'}; "
                 f"removed: {', '.join(found.removed) or 'none'}")

    async def cull_forever() -> None:
        while True:
            await asyncio.sleep(cull_interval(config.cull_idle_seconds))
            try:
                await notebooks.cull_idle(config.cull_idle_seconds)
            except Exception:
                log.exception("culling idle notebook servers failed; trying again later")

    culler = asyncio.create_task(cull_forever()) if config.cull_idle_seconds > 0 else None
    yield
    if culler is not None:
        culler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await culler
    await notebooks.close()
    if closable is not None:
        await closable.close()
