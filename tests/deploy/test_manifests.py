"""The Kubernetes manifests under deploy/ are valid and grant, select and bind what they should.

Schemas come with kubernetes-validate (offline); KUBERNETES_VERSION is one it ships.
The spawner's own objects (hub/spawners/k8s_objects.py) are validated here too,
since the Role and NetworkPolicy must fit them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from hub.spawners import PROFILES
from hub.spawners.k8s_objects import (NOTEBOOK_GID, NOTEBOOK_UID, build_claim, build_pod,
                                      build_service, notebook_labels)

KUBERNETES_VERSION = "1.33.0"
REPO = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))


def load_all() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def only(kind: str) -> dict:
    found = [doc for doc in load_all() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_the_deployment_files_are_all_there():
    names = {path.name for path in MANIFESTS}
    assert {"deployment.yaml", "service.yaml", "serviceaccount.yaml", "role.yaml",
            "rolebinding.yaml", "pvc.yaml", "networkpolicy.yaml", "configmap.yaml"} <= names
    assert KUBERNETES_VERSION.rsplit(".", 1)[0] in {
        v.rsplit(".", 1)[0] for v in kubernetes_validate.utils.all_versions()}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_manifest_validates_strictly_against_the_kubernetes_schema(path):
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert documents, f"{path.name} holds no object"
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def spawner_objects() -> list[dict]:
    common = dict(user="Alice", slug="alice--3bc51062", namespace="kozo")
    return [build_pod(**common, image="kozo/notebook:0.1.0", profile=PROFILES["default"],
                      env={"KOZO_HUB_URL": "http://hub", "KOZO_HUB_TOKEN": "t"}, token="j",
                      base_url="/user/Alice/"),
            build_service(**common), build_claim(**common, size="10Gi", storage_class="fast")]


@pytest.mark.parametrize("document", spawner_objects(), ids=lambda doc: doc["kind"])
def test_the_spawners_objects_validate_strictly_against_the_kubernetes_schema(document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught_by_the_validator():
    broken = {**only("Service"), "spec": {"ports": [{"port": "eighty"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_everything_lives_in_one_namespace_and_nothing_is_cluster_wide():
    kinds = {doc["kind"] for doc in load_all()}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    for doc in load_all():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "kozo", doc["metadata"]["name"]


def test_the_role_is_namespaced_and_grants_only_core_pods_services_claims_and_events():
    role = only("Role")
    assert role["metadata"]["namespace"] == "kozo"
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""]
        assert set(rule["resources"]) <= {"pods", "services", "persistentvolumeclaims", "events"}
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs")
    granted = {(resource, verb) for rule in role["rules"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert ("persistentvolumeclaims", "delete") not in granted  # homes outlive servers


# Every call hub/spawners/kubernetes.py makes, as (resource, verb).
SPAWNER_CALLS = [("pods", "create"), ("pods", "get"), ("pods", "list"), ("pods", "watch"),
                 ("pods", "delete"), ("services", "create"), ("services", "list"),
                 ("services", "delete"), ("persistentvolumeclaims", "get"),
                 ("persistentvolumeclaims", "create")]


@pytest.mark.parametrize("resource, verb", SPAWNER_CALLS)
def test_the_role_allows_every_call_the_spawner_makes(resource, verb):
    assert any(resource in rule["resources"] and verb in rule["verbs"]
               for rule in only("Role")["rules"])


def test_the_rolebinding_binds_the_role_to_the_deployments_service_account():
    binding, deployment = only("RoleBinding"), only("Deployment")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert account == only("ServiceAccount")["metadata"]["name"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": only("Role")["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account,
                                    "namespace": "kozo"}]


def test_the_network_policy_lets_only_the_hub_reach_notebook_pods():
    policy = only("NetworkPolicy")["spec"]
    hub_labels = only("Deployment")["spec"]["template"]["metadata"]["labels"]
    notebook = notebook_labels("alice")
    assert selects(policy["podSelector"]["matchLabels"], notebook)
    assert not selects(policy["podSelector"]["matchLabels"], hub_labels)
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    [peer] = rule["from"]
    assert set(peer) == {"podSelector"}  # no namespaceSelector or ipBlock letting others in
    assert selects(peer["podSelector"]["matchLabels"], hub_labels)
    assert not selects(peer["podSelector"]["matchLabels"], notebook)
    assert rule["ports"] == [{"protocol": "TCP", "port": 8888}]


def test_the_hub_service_selects_the_deployments_pods_and_its_data_claim_is_mounted():
    deployment = only("Deployment")
    template = deployment["spec"]["template"]
    assert selects(only("Service")["spec"]["selector"], template["metadata"]["labels"])
    assert selects(deployment["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])
    claims = {v["persistentVolumeClaim"]["claimName"] for v in template["spec"]["volumes"]
              if "persistentVolumeClaim" in v}
    assert claims == {only("PersistentVolumeClaim")["metadata"]["name"]}
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert deployment["spec"]["replicas"] == 1


def test_the_configmap_holds_a_hub_toml_for_the_kubernetes_spawner_in_the_roles_namespace():
    config = tomllib.loads(only("ConfigMap")["data"]["hub.toml"])
    spawner = config["spawner"]
    assert spawner["kind"] == "kubernetes"
    assert spawner["namespace"] == only("Role")["metadata"]["namespace"]
    assert spawner["default_profile"] in PROFILES
    assert spawner["hub_url"].startswith(f"http://{only('Service')['metadata']['name']}.kozo.svc:")


def test_the_notebook_image_runs_as_the_user_the_spawner_expects_and_copies_existing_paths():
    dockerfile = (REPO / "deploy" / "notebook" / "Dockerfile").read_text()
    assert f"USER {NOTEBOOK_UID}:{NOTEBOOK_GID}" in dockerfile
    assert re.search(r'pip install "/src/kozo\[hub\]"', dockerfile)
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
