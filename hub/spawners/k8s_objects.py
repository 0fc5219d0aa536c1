"""The Kubernetes objects of one user's notebook server: Pod, Service and home volume claim.

Plain dicts, built here and nowhere else, so the labels that make cleanup
exact are written once: every object carries `app.kubernetes.io/managed-by:
kozo-hub`, `app.kubernetes.io/component: notebook` and `kozo/user: <slug>`,
and the user's real name in the `kozo/username` annotation. The hub's
NetworkPolicy (deploy/kubernetes/networkpolicy.yaml) selects pods by the same labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.spawners.profiles import Profile

MANAGED_BY = ("app.kubernetes.io/managed-by", "kozo-hub")
COMPONENT = ("app.kubernetes.io/component", "notebook")
USER_LABEL = "kozo/user"
USERNAME_ANNOTATION = "kozo/username"
PROFILE_ANNOTATION = "kozo/profile"
TOKEN_ENV = "JUPYTER_TOKEN"
CONTAINER = "notebook"
HOME = "/home/kozo"
NOTEBOOK_UID = 1000
NOTEBOOK_GID = 100

# For list calls; the API server filters with it, and `is_ours` checks again.
SELECTOR = f"{MANAGED_BY[0]}={MANAGED_BY[1]},{COMPONENT[0]}={COMPONENT[1]}"


def pod_name(slug: str) -> str:
    """Name of the user's Pod and of its Service."""
    return f"kozo-nb-{slug}"


def claim_name(slug: str) -> str:
    """Name of the user's home PersistentVolumeClaim, kept across servers."""
    return f"kozo-home-{slug}"


def notebook_labels(slug: str) -> dict[str, str]:
    """Labels on all of the user's objects; also the Service's selector."""
    return {MANAGED_BY[0]: MANAGED_BY[1], COMPONENT[0]: COMPONENT[1], USER_LABEL: slug}


def is_ours(labels: Mapping[str, str] | None) -> bool:
    """True for objects this hub created (whatever the API server's selector support)."""
    labels = labels or {}
    return (labels.get(MANAGED_BY[0]) == MANAGED_BY[1]
            and labels.get(COMPONENT[0]) == COMPONENT[1] and bool(labels.get(USER_LABEL)))


def _metadata(name: str, namespace: str, slug: str, user: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": notebook_labels(slug),
            "annotations": {USERNAME_ANNOTATION: user}}


def build_pod(*, user: str, slug: str, namespace: str, image: str, profile: Profile,
              env: Mapping[str, str], token: str, base_url: str, port: int = 8888,
              image_pull_policy: str = "IfNotPresent") -> dict[str, Any]:
    """The notebook Pod: Jupyter Server on `port` under `base_url`, home on the user's claim."""
    metadata = _metadata(pod_name(slug), namespace, slug, user)
    metadata["annotations"][PROFILE_ANNOTATION] = profile.name
    environment = {**env, TOKEN_ENV: token, "HOME": HOME}
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
        "spec": {
            "restartPolicy": "OnFailure",
            "automountServiceAccountToken": False,  # the notebook talks to the hub, not the API
            "enableServiceLinks": False,
            "securityContext": {"runAsUser": NOTEBOOK_UID, "runAsGroup": NOTEBOOK_GID,
                                "fsGroup": NOTEBOOK_GID, "runAsNonRoot": True},
            "containers": [{
                "name": CONTAINER,
                "image": image,
                "imagePullPolicy": image_pull_policy,
                "command": ["python", "-m", "jupyter_server"],
                "args": ["--no-browser", "--ServerApp.ip=0.0.0.0", f"--ServerApp.port={port}",
                         f"--ServerApp.base_url={base_url}", f"--ServerApp.root_dir={HOME}"],
                "workingDir": HOME,
                "env": [{"name": k, "value": v} for k, v in sorted(environment.items())],
                "ports": [{"name": "http", "containerPort": port}],
                "resources": profile.kubernetes_resources(),
                "volumeMounts": [{"name": "home", "mountPath": HOME}],
                # /api answers without a token: ready means Jupyter is serving.
                "readinessProbe": {"httpGet": {"path": f"{base_url}api", "port": "http"},
                                   "periodSeconds": 2, "failureThreshold": 3},
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
            "volumes": [{"name": "home",
                         "persistentVolumeClaim": {"claimName": claim_name(slug)}}],
        },
    }


def build_service(*, user: str, slug: str, namespace: str, port: int = 8888) -> dict[str, Any]:
    """A ClusterIP Service in front of the Pod: a stable name for the hub's proxy."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _metadata(pod_name(slug), namespace, slug, user),
        "spec": {"type": "ClusterIP", "selector": notebook_labels(slug),
                 "ports": [{"name": "http", "port": port, "targetPort": "http"}]},
    }


def build_claim(*, user: str, slug: str, namespace: str, size: str,
                storage_class: str | None = None) -> dict[str, Any]:
    """The user's home volume claim (`size` in bytes with Kubernetes suffixes, e.g. "10Gi")."""
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _metadata(claim_name(slug), namespace, slug, user), "spec": spec}


def container_token(pod_spec_env: list[Any] | None) -> str | None:
    """The Jupyter token from a container's env list (V1EnvVar objects or dicts)."""
    for var in pod_spec_env or []:
        name = var.get("name") if isinstance(var, dict) else var.name
        if name == TOKEN_ENV:
            return var.get("value") if isinstance(var, dict) else var.value
    return None
