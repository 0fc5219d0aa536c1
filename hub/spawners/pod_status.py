"""What a notebook Pod's status means for the user waiting on it: ready, failed (why), or waiting (on what).

Reads only the fields the kubelet and scheduler write (phase, conditions,
container states), so it works the same on a real cluster and on kmock.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                                "ErrImageNeverPull"})
BROKEN_CONTAINER_REASONS = frozenset({"CrashLoopBackOff", "CreateContainerConfigError",
                                      "CreateContainerError", "RunContainerError"})


class Readiness(enum.Enum):
    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


class Verdict(NamedTuple):
    readiness: Readiness
    percent: int  # how far along a start this is, for progress events
    message: str  # for the user


def _condition(status: Any, kind: str) -> Any | None:
    for condition in status.conditions or []:
        if condition.type == kind:
            return condition
    return None


def pod_verdict(pod: Any, image: str) -> Verdict:
    """Judge a V1Pod (kubernetes-asyncio model); `image` names the image in messages."""
    status = pod.status
    if status is None or not status.phase:
        return Verdict(Readiness.WAITING, 30, "Waiting for the cluster to accept the server")
    if status.phase in ("Failed", "Succeeded"):
        why = ": ".join(part for part in (status.reason, status.message) if part)
        return Verdict(Readiness.FAILED, 100,
                       f"The server stopped before it was ready (pod {status.phase}"
                       f"{': ' + why if why else ''})")
    for container in status.container_statuses or []:
        state = container.state
        waiting = state.waiting if state is not None else None
        terminated = state.terminated if state is not None else None
        if waiting is not None and waiting.reason in IMAGE_PULL_REASONS:
            return Verdict(Readiness.FAILED, 100,
                           f"The notebook image {container.image or image} could not be pulled "
                           f"({waiting.reason}: {waiting.message or 'no details'}). Ask the "
                           "facility staff to check the image name and the registry.")
        if waiting is not None and waiting.reason in BROKEN_CONTAINER_REASONS:
            return Verdict(Readiness.FAILED, 100,
                           f"The server's container cannot run ({waiting.reason}: "
                           f"{waiting.message or 'no details'})")
        if terminated is not None:
            return Verdict(Readiness.FAILED, 100,
                           f"The server exited with code {terminated.exit_code} before it was "
                           f"ready ({terminated.reason or 'no reason given'})")
    scheduled = _condition(status, "PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        return Verdict(Readiness.WAITING, 35,
                       f"Waiting for a node with room for the server ({scheduled.reason}: "
                       f"{scheduled.message or 'no details'})")
    ready = _condition(status, "Ready")
    if status.phase == "Running":
        if ready is not None and ready.status == "True":
            return Verdict(Readiness.READY, 100, f"Server running at {status.pod_ip}")
        return Verdict(Readiness.WAITING, 80, "Server started; waiting for Jupyter to answer")
    waiting_reasons = [c.state.waiting.reason for c in status.container_statuses or []
                       if c.state is not None and c.state.waiting is not None]
    if waiting_reasons:
        return Verdict(Readiness.WAITING, 60, f"Preparing the server ({waiting_reasons[0]})")
    return Verdict(Readiness.WAITING, 50, "Server scheduled; pulling the image and starting it")
