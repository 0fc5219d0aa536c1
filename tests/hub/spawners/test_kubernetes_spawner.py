"""KubernetesSpawner against kmock's Kubernetes emulator, through the real kubernetes-asyncio client.

The tests play the kubelet's part with `patch_namespaced_pod_status`. Readiness
is tested on each path alone: polling `read_namespaced_pod` with the watch off,
and the watch with polling too slow to matter (kmock streams events for
`watch=true`, which the spawner sends). kmock ignores label selectors, so the
distractor objects here also check that the spawner filters by label itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kmock
import pytest
import pytest_asyncio
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from hub.spawners import PROFILES, SpawnFailed, SpawnTimeout, State
from hub.spawners.k8s_objects import build_pod, build_service
from hub.spawners.kubernetes import KubernetesSpawner

pytestmark = pytest.mark.asyncio

NAMESPACE = "kozo"
IMAGE = "registry.example/kozo-notebook:1"
MANAGED = {"app.kubernetes.io/managed-by": "kozo-hub", "app.kubernetes.io/component": "notebook"}


@pytest_asyncio.fixture
async def api():
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator):
        for resource in ("v1/pods", "v1/services", "v1/persistentvolumeclaims"):
            emulator.resources[resource] = {}
        async with client.ApiClient(client.Configuration(host=str(emulator.url))) as api_client:
            yield api_client


def make_spawner(api, **overrides: Any) -> KubernetesSpawner:
    options = dict(namespace=NAMESPACE, image=IMAGE, hub_url="http://kozo-hub.kozo.svc:8080",
                   start_timeout=20.0, poll_interval=0.05, stop_timeout=1.0)
    return KubernetesSpawner(api, **{**options, **overrides})


RUNNING = {"phase": "Running", "podIP": "10.1.2.3",
           "conditions": [{"type": "PodScheduled", "status": "True"},
                          {"type": "Ready", "status": "True"}]}


def waiting_container(reason: str, message: str) -> dict[str, Any]:
    return {"phase": "Pending", "containerStatuses": [{
        "name": "notebook", "image": IMAGE, "imageID": "", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": message}}}]}


async def play_kubelet(api, pod: str, status: dict[str, Any], deadline: float = 10.0) -> None:
    """Once the pod exists, write `status` as the kubelet would."""
    core = client.CoreV1Api(api)
    end = time.monotonic() + deadline
    while True:
        try:
            await core.read_namespaced_pod(pod, NAMESPACE)
            break
        except ApiException as error:
            assert error.status == 404 and time.monotonic() < end, f"pod {pod} never appeared"
            await asyncio.sleep(0.02)
    await core.patch_namespaced_pod_status(pod, NAMESPACE, {"status": status})


async def start_as_kubelet(spawner, api, user: str, status: dict[str, Any], **start_args: Any):
    started = asyncio.create_task(spawner.start(user, hub_token=f"hub-token-{user}", **start_args))
    await play_kubelet(api, f"kozo-nb-{user}", status)
    return await started


async def exists(read, name: str) -> bool:
    try:
        await read(name, NAMESPACE)
        return True
    except ApiException as error:
        if error.status == 404:
            return False
        raise


async def test_start_creates_labelled_pod_service_and_claim_with_profile_resources(api):
    spawner = make_spawner(api)
    info = await start_as_kubelet(spawner, api, "alice", RUNNING, profile="large")
    core = client.CoreV1Api(api)

    pod = await core.read_namespaced_pod("kozo-nb-alice", NAMESPACE)
    service = await core.read_namespaced_service("kozo-nb-alice", NAMESPACE)
    claim = await core.read_namespaced_persistent_volume_claim("kozo-home-alice", NAMESPACE)
    labels = {**MANAGED, "kozo/user": "alice"}
    assert pod.metadata.labels == labels
    assert service.metadata.labels == labels
    assert claim.metadata.labels == labels
    assert service.spec.selector == labels
    container = pod.spec.containers[0]
    assert container.image == IMAGE
    assert container.resources.requests == {"cpu": "2", "memory": "8Gi"}
    assert container.resources.limits == {"cpu": "4", "memory": "16Gi"}
    env = {var.name: var.value for var in container.env}
    assert env["KOZO_HUB_URL"] == "http://kozo-hub.kozo.svc:8080"
    assert env["KOZO_HUB_TOKEN"] == "hub-token-alice"
    assert env["JUPYTER_TOKEN"] == info.token
    assert "--ServerApp.base_url=/user/alice/" in container.args
    assert pod.spec.volumes[0].persistent_volume_claim.claim_name == "kozo-home-alice"
    assert info.url == "http://kozo-nb-alice.kozo.svc:8888/user/alice/"
    assert (info.state, info.profile) == (State.RUNNING, "large")
    assert (await spawner.poll("alice")).state is State.RUNNING


@pytest.mark.parametrize("options", [
    dict(watch_pods=False, poll_interval=0.05),
    dict(watch_pods=True, poll_interval=3600.0),  # only a watch event can wake the start
], ids=["polling", "watch"])
async def test_readiness_is_noticed_once_the_kubelet_reports_the_pod_ready(api, options):
    spawner = make_spawner(api, **options)
    started = asyncio.create_task(spawner.start("alice", hub_token="t"))
    await play_kubelet(api, "kozo-nb-alice", waiting_container("ContainerCreating", ""))
    deadline = time.monotonic() + 10
    while "ContainerCreating" not in (await spawner.poll("alice")).message:
        assert time.monotonic() < deadline, "the waiting container never showed in poll"
        await asyncio.sleep(0.02)
    await play_kubelet(api, "kozo-nb-alice", RUNNING)
    info = await started
    assert info.state is State.RUNNING
    assert (await spawner.poll("alice")).state is State.RUNNING


async def test_poll_reports_each_phase_of_the_lifecycle(api):
    spawner = make_spawner(api)
    assert (await spawner.poll("alice")).state is State.STOPPED
    started = asyncio.create_task(spawner.start("alice", hub_token="t"))
    deadline = time.monotonic() + 10
    while (await spawner.poll("alice")).state is not State.STARTING:
        assert time.monotonic() < deadline, "poll never said STARTING"
        await asyncio.sleep(0.01)
    await play_kubelet(api, "kozo-nb-alice", RUNNING)
    await started
    assert (await spawner.poll("alice")).state is State.RUNNING
    await spawner.stop("alice")
    assert (await spawner.poll("alice")).state is State.STOPPED


async def test_progress_ends_with_a_ready_event_at_100_percent(api):
    spawner = make_spawner(api)
    started = asyncio.create_task(spawner.start("alice", hub_token="t"))
    await play_kubelet(api, "kozo-nb-alice", waiting_container("ContainerCreating", ""))
    events = []
    async with asyncio.timeout(10):  # the kubelet's state must show up as a progress message
        async for event in spawner.progress("alice"):
            events.append(event)
            if "ContainerCreating" in event.message:
                await play_kubelet(api, "kozo-nb-alice", RUNNING)
    await started
    assert events[-1].as_json()["ready"] is True and events[-1].progress == 100
    assert [e.progress for e in events] == sorted(e.progress for e in events)
    assert events[0].state is State.STARTING


@pytest.mark.parametrize("status, words", [
    (waiting_container("ErrImagePull", "manifest unknown"),
     ["could not be pulled", IMAGE, "ErrImagePull", "manifest unknown"]),
    (waiting_container("ImagePullBackOff", "Back-off pulling image"),
     ["could not be pulled", "ImagePullBackOff"]),
    (waiting_container("CrashLoopBackOff", "back-off 10s restarting"),
     ["cannot run", "CrashLoopBackOff"]),
    ({"phase": "Failed", "reason": "Evicted", "message": "low on memory"},
     ["stopped before it was ready", "Evicted", "low on memory"]),
], ids=["image-pull-error", "image-pull-backoff", "crash-loop", "evicted"])
async def test_failed_start_reaches_the_user_as_a_sentence_and_leaves_only_the_claim(
        api, status, words):
    spawner = make_spawner(api)
    with pytest.raises(SpawnFailed) as raised:
        await start_as_kubelet(spawner, api, "alice", status)
    polled = await spawner.poll("alice")
    assert polled.state is State.FAILED
    for word in words:
        assert word in str(raised.value)
        assert word in polled.message
    final = [event async for event in spawner.progress("alice")][-1]
    assert final.as_json()["failed"] is True and final.message == polled.message
    core = client.CoreV1Api(api)
    assert not await exists(core.read_namespaced_pod, "kozo-nb-alice")
    assert not await exists(core.read_namespaced_service, "kozo-nb-alice")
    assert await exists(core.read_namespaced_persistent_volume_claim, "kozo-home-alice")


async def test_start_timeout_names_the_seconds_and_the_last_step(api):
    spawner = make_spawner(api, start_timeout=1.5)
    unschedulable = {"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory."}]}
    with pytest.raises(SpawnTimeout, match=r"within 1\.5 seconds.*Insufficient memory"):
        await start_as_kubelet(spawner, api, "alice", unschedulable)
    assert (await spawner.poll("alice")).state is State.FAILED
    assert not await exists(client.CoreV1Api(api).read_namespaced_pod, "kozo-nb-alice")


async def test_starting_a_running_server_returns_it_unchanged(api):
    spawner = make_spawner(api)
    first = await start_as_kubelet(spawner, api, "alice", RUNNING)
    again = await spawner.start("alice", hub_token="another")
    assert again == first
    pods = (await client.CoreV1Api(api).list_namespaced_pod(NAMESPACE)).items
    assert [pod.metadata.name for pod in pods] == ["kozo-nb-alice"]


async def test_stop_deletes_pod_and_service_but_keeps_the_home_claim(api):
    spawner = make_spawner(api)
    await start_as_kubelet(spawner, api, "alice", RUNNING)
    await spawner.stop("alice")
    core = client.CoreV1Api(api)
    assert not await exists(core.read_namespaced_pod, "kozo-nb-alice")
    assert not await exists(core.read_namespaced_service, "kozo-nb-alice")
    assert await exists(core.read_namespaced_persistent_volume_claim, "kozo-home-alice")
    assert (await spawner.poll("alice")).state is State.STOPPED
    await spawner.stop("alice")  # stopping a stopped server is a no-op
    assert (await spawner.poll("alice")).state is State.STOPPED


async def test_a_pod_deleted_behind_the_hubs_back_polls_as_failed(api):
    spawner = make_spawner(api)
    await start_as_kubelet(spawner, api, "alice", RUNNING)
    await client.CoreV1Api(api).delete_namespaced_pod("kozo-nb-alice", NAMESPACE)
    polled = await spawner.poll("alice")
    assert polled.state is State.FAILED and "gone" in polled.message


async def test_unsafe_user_names_get_distinct_dns_safe_object_names(api):
    spawner = make_spawner(api)
    started = [asyncio.create_task(spawner.start(name, hub_token="t"))
               for name in ("Alice", "alice")]
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + 10
    while len((await core.list_namespaced_pod(NAMESPACE)).items) < 2:
        assert time.monotonic() < deadline, "both pods should be created"
        await asyncio.sleep(0.02)
    pods = (await core.list_namespaced_pod(NAMESPACE)).items
    for pod in pods:
        await core.patch_namespaced_pod_status(pod.metadata.name, NAMESPACE, {"status": RUNNING})
    infos = await asyncio.gather(*started)
    names = {pod.metadata.name for pod in pods}
    assert len(names) == 2 and "kozo-nb-alice" in names
    assert {pod.metadata.annotations["kozo/username"] for pod in pods} == {"Alice", "alice"}
    assert {info.user for info in infos} == {"Alice", "alice"}


async def test_reconcile_after_restart_adopts_ready_pods_and_removes_orphans(api):
    core = client.CoreV1Api(api)
    before_restart = make_spawner(api)
    alice = await start_as_kubelet(before_restart, api, "alice", RUNNING)
    # carol's start was under way when the hub died; dave's pod is gone but his service is not.
    for manifest in (build_pod(user="carol", slug="carol", namespace=NAMESPACE, image=IMAGE,
                               profile=PROFILES["default"], env={}, token="c",
                               base_url="/user/carol/"),
                     build_service(user="carol", slug="carol", namespace=NAMESPACE),
                     build_service(user="dave", slug="dave", namespace=NAMESPACE)):
        create = (core.create_namespaced_pod if manifest["kind"] == "Pod"
                  else core.create_namespaced_service)
        await create(NAMESPACE, manifest)
    # Distractors: not ours, so reconcile must leave them alone.
    await core.create_namespaced_pod(NAMESPACE, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "database", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "db", "image": "postgres"}]}})
    await core.create_namespaced_service(NAMESPACE, {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kozo-nb-erin", "namespace": NAMESPACE,
                     "labels": {"kozo/user": "erin", "app.kubernetes.io/managed-by": "helm"}},
        "spec": {"ports": [{"port": 80}]}})

    after_restart = make_spawner(api)
    result = await after_restart.reconcile()

    assert result.adopted == ("alice",)
    assert set(result.removed) == {"pod/kozo-nb-carol", "service/kozo-nb-carol",
                                   "service/kozo-nb-dave"}
    assert (await after_restart.poll("alice")).state is State.RUNNING
    assert after_restart.server("alice") == alice
    assert {p.metadata.name for p in (await core.list_namespaced_pod(NAMESPACE)).items} == {
        "kozo-nb-alice", "database"}
    assert {s.metadata.name for s in (await core.list_namespaced_service(NAMESPACE)).items} == {
        "kozo-nb-alice", "kozo-nb-erin"}
    assert (await after_restart.poll("carol")).state is State.STOPPED
    await after_restart.stop("alice")
    assert not await exists(core.read_namespaced_pod, "kozo-nb-alice")


def notebook_pod(user: str, slug: str, token: str = "tok") -> dict[str, Any]:
    return build_pod(user=user, slug=slug, namespace=NAMESPACE, image=IMAGE,
                     profile=PROFILES["small"], env={}, token=token, base_url=f"/user/{user}/")


def without_annotations(pod: dict[str, Any]) -> dict[str, Any]:
    pod["metadata"]["annotations"] = {}
    return pod


@pytest.mark.parametrize("pod, status, terminating, adopted", [
    (notebook_pod("alice", "alice"), RUNNING, False, True),
    (notebook_pod("alice", "alice"), waiting_container("ContainerCreating", ""), False, False),
    (notebook_pod("alice", "alice"), {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "False"}]}, False, False),
    (notebook_pod("alice", "alice"), RUNNING, True, False),
    (without_annotations(notebook_pod("alice", "alice")), RUNNING, False, False),
    (notebook_pod("mallory", "alice"), RUNNING, False, False),  # name and label disagree
    (notebook_pod("alice", "alice", token=""), RUNNING, False, False),
], ids=["ready", "pending", "running-not-ready", "terminating", "no-username",
        "slug-mismatch", "no-token"])
async def test_reconcile_adopts_only_ready_pods_whose_user_and_token_add_up(
        api, pod, status, terminating, adopted):
    core = client.CoreV1Api(api)
    if terminating:
        pod["metadata"]["finalizers"] = ["example.com/keep"]
    await core.create_namespaced_pod(NAMESPACE, pod)
    await core.patch_namespaced_pod_status("kozo-nb-alice", NAMESPACE, {"status": status})
    if terminating:
        await core.delete_namespaced_pod("kozo-nb-alice", NAMESPACE)
    spawner = make_spawner(api)
    result = await spawner.reconcile()
    assert result.adopted == (("alice",) if adopted else ())
    assert result.removed == (() if adopted else ("pod/kozo-nb-alice",))
    assert (await spawner.poll("alice")).state is (State.RUNNING if adopted else State.STOPPED)
