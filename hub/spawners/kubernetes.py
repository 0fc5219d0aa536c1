"""The production spawner: one Pod, Service and home PersistentVolumeClaim per user (kubernetes-asyncio).

Readiness watches the Pod and re-reads it on every event or every
`poll_interval` seconds, whichever comes first, so a watch that fails or never
delivers (some proxies, test servers) only slows detection down. Stop deletes
the Pod and Service and keeps the home claim. Reconcile lists by label (and
checks the labels itself), adopts ready pods, and deletes every other pod and
every service without an adopted pod, so no stale route remains.
Needs a Role allowing pods, services and persistentvolumeclaims in `namespace`
(deploy/kubernetes/role.yaml).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from hub.spawners import k8s_objects as objects
from hub.spawners.base import Report, ServerInfo, Spawner
from hub.spawners.errors import SpawnFailed
from hub.spawners.pod_status import Readiness, pod_verdict
from hub.spawners.profiles import Profile
from hub.spawners.slugs import user_base_url, user_slug

log = logging.getLogger(__name__)


class KubernetesSpawner(Spawner):
    """Notebook servers as Pods in one namespace."""

    def __init__(self, api: client.ApiClient, *, namespace: str, image: str, hub_url: str,
                 start_timeout: float = 300.0, stop_timeout: float = 30.0,
                 poll_interval: float = 2.0, home_size: str = "10Gi",
                 storage_class: str | None = None, image_pull_policy: str = "IfNotPresent",
                 port: int = 8888, watch_pods: bool = True, **kwargs: object) -> None:
        """api: a configured client (in the cluster: `config.load_incluster_config()`).
        start_timeout: seconds from creating the Pod to Jupyter answering (image pulls count).
        stop_timeout: seconds the Pod is given to shut down (its deletion grace period).
        poll_interval: seconds between reads of a starting Pod when no watch event arrives.
        home_size: each new home claim's size, e.g. "10Gi".
        watch_pods: also watch the Pod while it starts, to notice readiness sooner.
        """
        super().__init__(hub_url=hub_url, start_timeout=start_timeout,
                         stop_timeout=stop_timeout, **kwargs)  # type: ignore[arg-type]
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.image = image
        self.poll_interval = poll_interval
        self.home_size = home_size
        self.storage_class = storage_class
        self.image_pull_policy = image_pull_policy
        self.port = port
        self.watch_pods = watch_pods

    def server_url(self, user: str) -> str:
        """Where the hub reaches `user`'s server: through the user's Service."""
        service = objects.pod_name(user_slug(user))
        return f"http://{service}.{self.namespace}.svc:{self.port}{user_base_url(user)}"

    async def _launch(self, user: str, profile: Profile, env: dict[str, str],
                      report: Report) -> ServerInfo:
        slug = user_slug(user)
        report(5, "Preparing your home volume")
        await self._ensure_claim(user, slug)
        report(15, "Clearing any previous server")
        await self._delete_server(slug, wait=True)
        token = secrets.token_urlsafe(32)
        pod = objects.build_pod(user=user, slug=slug, namespace=self.namespace, image=self.image,
                                profile=profile, env=env, token=token,
                                base_url=user_base_url(user), port=self.port,
                                image_pull_policy=self.image_pull_policy)
        report(20, "Creating your server")
        await self.core.create_namespaced_service(
            self.namespace, objects.build_service(user=user, slug=slug, namespace=self.namespace,
                                                  port=self.port))
        await self.core.create_namespaced_pod(self.namespace, pod)
        await self._wait_until_ready(objects.pod_name(slug), report)
        return ServerInfo(user=user, url=self.server_url(user), token=token, profile=profile.name)

    async def _ensure_claim(self, user: str, slug: str) -> None:
        try:
            await self.core.read_namespaced_persistent_volume_claim(objects.claim_name(slug),
                                                                    self.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            claim = objects.build_claim(user=user, slug=slug, namespace=self.namespace,
                                        size=self.home_size, storage_class=self.storage_class)
            await _tolerate(409, self.core.create_namespaced_persistent_volume_claim(
                self.namespace, claim))  # 409: another start created it first

    async def _wait_until_ready(self, name: str, report: Report) -> None:
        """Re-read the Pod on each watch event or every poll_interval seconds until it is ready."""
        wakeup = asyncio.Event()
        watcher = asyncio.create_task(self._watch_pod(name, wakeup)) if self.watch_pods else None
        try:
            last_message = ""
            while True:
                wakeup.clear()  # before the read: an event during it means read again
                try:
                    pod = await self.core.read_namespaced_pod(name, self.namespace)
                except ApiException as error:
                    if error.status == 404:
                        raise SpawnFailed("Your server's pod was deleted while it was "
                                          "starting") from None
                    if error.status < 500:
                        raise
                    log.warning("reading pod %s failed (%s); retrying", name, error.status)
                else:
                    verdict = pod_verdict(pod, self.image)
                    if verdict.readiness is Readiness.READY:
                        return
                    if verdict.readiness is Readiness.FAILED:
                        raise SpawnFailed(verdict.message)
                    if verdict.message != last_message:
                        report(verdict.percent, verdict.message)
                        last_message = verdict.message
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), self.poll_interval)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _watch_pod(self, name: str, wakeup: asyncio.Event) -> None:
        """Set `wakeup` on every event about Pod `name`; on any watch failure, leave it to polling.

        Reads the stream itself with `watch=true` as kubectl sends it: kubernetes-asyncio's
        Watch sends `watch=True`, which the API server takes but stricter servers (kmock) do not.
        """
        response = None
        try:
            response = await self.core.list_namespaced_pod(
                self.namespace, field_selector=f"metadata.name={name}", watch="true",
                timeout_seconds=int(self.start_timeout) + 1, _preload_content=False)
            while line := await response.content.readline():
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    raise RuntimeError(event.get("object", {}).get("message", "watch error"))
                if event.get("object", {}).get("metadata", {}).get("name") == name:
                    wakeup.set()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a watch is an optimisation: polling goes on without it
            log.info("watching pod %s failed, polling instead: %s", name, error)
        finally:
            if response is not None:
                response.release()

    async def _delete_server(self, slug: str, *, wait: bool = False) -> None:
        """Delete the user's Pod and Service; with wait, until the Pod name is free again."""
        name = objects.pod_name(slug)
        await _tolerate(404, self.core.delete_namespaced_service(name, self.namespace))
        await _tolerate(404, self.core.delete_namespaced_pod(
            name, self.namespace, grace_period_seconds=int(self.stop_timeout)))
        deadline = time.monotonic() + self.stop_timeout + 30
        while wait and time.monotonic() < deadline:
            try:
                await self.core.read_namespaced_pod(name, self.namespace)
            except ApiException as error:
                if error.status == 404:
                    return
                raise
            await asyncio.sleep(self.poll_interval)

    async def _check(self, info: ServerInfo) -> str | None:
        name = objects.pod_name(user_slug(info.user))
        try:
            pod = await self.core.read_namespaced_pod(name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return f"{info.user}'s server pod {name} is gone (deleted outside the hub)"
            if error.status < 500:
                raise
            log.warning("reading pod %s failed (%s); assuming it still runs", name, error.status)
            return None  # an API server hiccup is not the user's server dying
        if pod.metadata.deletion_timestamp is not None:
            return f"{info.user}'s server pod {name} is being deleted"
        verdict = pod_verdict(pod, self.image)
        return None if verdict.readiness is Readiness.READY else verdict.message

    async def _teardown(self, user: str) -> None:
        await self._delete_server(user_slug(user))

    async def _reconcile(self, active: set[str]) -> tuple[list[ServerInfo], list[str]]:
        adopted: list[ServerInfo] = []
        removed: list[str] = []
        keep = {user_slug(user) for user in active}
        pods = await self.core.list_namespaced_pod(self.namespace, label_selector=objects.SELECTOR)
        for pod in pods.items:
            if not objects.is_ours(pod.metadata.labels):
                continue
            slug = pod.metadata.labels[objects.USER_LABEL]
            if slug in keep:
                continue
            info = self._adoptable(pod, slug)
            if info is not None:
                adopted.append(info)
                keep.add(slug)
                continue
            await _tolerate(404, self.core.delete_namespaced_pod(
                pod.metadata.name, self.namespace, grace_period_seconds=int(self.stop_timeout)))
            removed.append(f"pod/{pod.metadata.name}")
        services = await self.core.list_namespaced_service(self.namespace,
                                                           label_selector=objects.SELECTOR)
        for service in services.items:
            if objects.is_ours(service.metadata.labels) and (
                    service.metadata.labels[objects.USER_LABEL] not in keep):
                await _tolerate(404, self.core.delete_namespaced_service(service.metadata.name,
                                                                         self.namespace))
                removed.append(f"service/{service.metadata.name}")
        return adopted, removed

    def _adoptable(self, pod: Any, slug: str) -> ServerInfo | None:
        """A ServerInfo for a ready pod whose name, user and token add up; else None."""
        user = (pod.metadata.annotations or {}).get(objects.USERNAME_ANNOTATION)
        if not user or user_slug(user) != slug or pod.metadata.name != objects.pod_name(slug):
            return None
        if pod.metadata.deletion_timestamp is not None:
            return None
        if pod_verdict(pod, self.image).readiness is not Readiness.READY:
            return None
        containers = [c for c in pod.spec.containers if c.name == objects.CONTAINER]
        token = objects.container_token(containers[0].env) if containers else None
        if not token:
            return None
        profile = (pod.metadata.annotations or {}).get(objects.PROFILE_ANNOTATION, "default")
        return ServerInfo(user=user, url=self.server_url(user), token=token, profile=profile)


async def _tolerate(status: int, call: Any) -> Any:
    """Await an API call, treating HTTP `status` (404 on delete, 409 on create) as done."""
    try:
        return await call
    except ApiException as error:
        if error.status != status:
            raise
        return None
