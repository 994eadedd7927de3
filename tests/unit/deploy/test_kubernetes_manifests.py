"""deploy/k8s renders with kustomize and validates offline against the Kubernetes schemas
(kubernetes-validate, strict) and KEDA's; probes, security and references are checked."""

from __future__ import annotations

import copy
import subprocess
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_support import ROOT, WORKERS, kubectl, setting_env_names, worker_image

from gateway.console import CONSOLE_PATH
from imagestudio.config import Settings
from imagestudio.urls import API_PREFIX

K8S = ROOT / "deploy/k8s"
#: The oldest Kubernetes minor we promise to run on (autoscaling/v2, policy/v1, batch/v1 TTL).
KUBERNETES_VERSION = "1.29"
KEDA_SCHEMAS = yaml.safe_load((ROOT / "tests/unit/deploy/schemas/keda.yaml").read_text())
LAYOUTS = ("base", "overlays/dev")


@cache
def render(layout: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / layout)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def validate(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(doc, KEDA_SCHEMAS[doc["kind"]])
        for trigger in doc.get("spec", {}).get("triggers", []):
            if trigger["type"] == "rabbitmq":
                jsonschema.validate(trigger["metadata"], KEDA_SCHEMAS["rabbitmqTrigger"])
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_manifest_is_valid_against_its_schema(layout: str) -> None:
    docs = render(layout)
    kinds = {d["kind"] for d in docs}
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Job",
        "Ingress",
    } <= kinds
    assert {"ScaledObject", "TriggerAuthentication", "ServiceAccount"} <= kinds
    for doc in docs:
        validate(doc)


def test_validation_refuses_unknown_fields_and_wrong_types() -> None:
    deployment = copy.deepcopy(of_kind(render("base"), "Deployment")["gateway"])
    deployment["spec"]["replica"] = 2  # typo of replicas
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    scaled = copy.deepcopy(of_kind(render("base"), "ScaledObject")["social-worker"])
    scaled["spec"]["triggers"][0]["metadata"]["value"] = 20  # KEDA wants strings
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_deployments_run_the_right_commands_with_probes_resources_and_no_root(layout: str) -> None:
    deployments = of_kind(render(layout), "Deployment")
    assert set(deployments) == {"gateway", *(f"{s}-worker" for s in WORKERS)}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        studio = name.removesuffix("-worker")
        expected = ["imagestudio", "up"] if name == "gateway" else ["imagestudio", "worker", studio]
        assert container["command"] == expected, name
        assert container["image"].split(":")[0] == (
            "imagestudio/gateway" if name == "gateway" else worker_image(studio)
        )
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"/tmp"} == {m["mountPath"] for m in container["volumeMounts"]}
        assert (
            set(container["resources"]["requests"])
            == {"cpu", "memory"}
            == set(container["resources"]["limits"])
        )
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        liveness, readiness = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        if name == "gateway":
            assert (liveness["path"], readiness["path"]) == ("/healthz", "/api/image-studio/health")
            assert ports == {"http": 8000}
        else:
            assert liveness["path"] == readiness["path"] == "/healthz"
            assert liveness["port"] == "metrics" and ports == {"metrics": 9191}
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(next(iter(ports.values())))
        assert {e.get("configMapRef", e.get("secretRef", {})).get("name") for e in container["envFrom"]} == {
            "imagestudio-config",
            "imagestudio-secrets",
        }


@pytest.mark.parametrize("layout", LAYOUTS)
def test_config_names_only_settings_the_code_reads(layout: str) -> None:
    docs = render(layout)
    [config] = of_kind(docs, "ConfigMap").values()
    assert set(config["data"]) <= setting_env_names(), set(config["data"]) - setting_env_names()
    assert config["data"]["IMAGESTUDIO_METRICS_PORT"] == "9191"
    # Several gateway replicas: their rate-limit counters must be shared, not per process.
    assert config["data"]["IMAGESTUDIO_RATE_LIMIT_STORAGE_URL"].startswith("redis://")
    for secret in of_kind(docs, "Secret").values():
        keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
        assert keys <= setting_env_names(), keys - setting_env_names()


def test_dev_overlay_generates_the_secret_every_reference_needs() -> None:
    docs = render("overlays/dev")
    secrets = of_kind(docs, "Secret")
    assert set(secrets) == {"imagestudio-secrets"}
    keys = set(secrets["imagestudio-secrets"]["data"])
    assert {"IMAGESTUDIO_SECRET_KEY", "IMAGESTUDIO_DATABASE_URL", "IMAGESTUDIO_BROKER_URL"} <= keys
    [auth] = of_kind(docs, "TriggerAuthentication").values()
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["name"] in secrets and ref["key"] in keys
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"imagestudio-dev"}
    images = {
        c["image"]
        for d in of_kind(docs, "Deployment").values()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert all(image.endswith(":dev") for image in images)
    assert all(d["spec"]["replicas"] == 1 for d in of_kind(docs, "Deployment").values())


def test_keda_scales_each_worker_on_its_own_queue_and_hpa_scales_the_gateway() -> None:
    docs = render("base")
    deployments = of_kind(docs, "Deployment")
    scaled = of_kind(docs, "ScaledObject")
    assert set(scaled) == {f"{s}-worker" for s in WORKERS}
    auth_names = set(of_kind(docs, "TriggerAuthentication"))
    for studio in WORKERS:
        spec = scaled[f"{studio}-worker"]["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        [trigger] = spec["triggers"]
        assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == studio
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert trigger["authenticationRef"]["name"] in auth_names
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    [hpa] = of_kind(docs, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}


def test_services_and_disruption_budgets_select_existing_pods_and_migrations_run_once() -> None:
    docs = render("base")
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in of_kind(docs, "Deployment").values()]

    def selects_pods(selector: dict[str, str]) -> bool:
        return any(selector.items() <= labels.items() for labels in pod_labels)

    for service in of_kind(docs, "Service").values():
        assert selects_pods(service["spec"]["selector"]), service["metadata"]["name"]
    budgets = of_kind(docs, "PodDisruptionBudget")
    assert "gateway" in budgets
    for budget in budgets.values():
        assert selects_pods(budget["spec"]["selector"]["matchLabels"])
    [job] = of_kind(docs, "Job").values()
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["imagestudio", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"OnFailure", "Never"}


def _routed(ingress: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The backend the Ingress sends ``path`` to (Kubernetes' Exact and element-wise Prefix rules)."""
    for rule in ingress["spec"]["rules"]:
        for route in rule["http"]["paths"]:
            if route["pathType"] == "Exact" and path == route["path"]:
                return dict(route["backend"])
            if route["pathType"] == "Prefix":
                prefix = route["path"].rstrip("/").split("/")
                if path.split("/")[: len(prefix)] == prefix:
                    return dict(route["backend"])
    return None


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_ingress_sends_the_api_and_the_console_to_the_gateway_and_keeps_metrics_inside(
    layout: str,
) -> None:
    docs = render(layout)
    [ingress] = of_kind(docs, "Ingress").values()
    gateway = of_kind(docs, "Service")["gateway"]
    port_names = {port["name"] for port in gateway["spec"]["ports"]}
    for path in (
        f"{CONSOLE_PATH}/",
        f"{CONSOLE_PATH}/assets/app.0123456789ab.js",
        f"{API_PREFIX}/jobs/job_1/events",
        f"{API_PREFIX}/uploads",
        "/openapi.json",  # the console's "run again" reads the create request schema from it
    ):
        backend = _routed(ingress, path)
        assert backend is not None, path
        assert backend["service"]["name"] == "gateway" and backend["service"]["port"]["name"] in port_names
    for inside in ("/metrics", "/healthz", "/studios", "/api/image-studio-other"):
        assert _routed(ingress, inside) is None, inside


def test_the_ingress_keeps_event_streams_open_and_takes_the_largest_upload() -> None:
    [ingress] = of_kind(render("base"), "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    settings = Settings.model_fields
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    read_timeout = int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert read_timeout >= settings["max_stream_seconds"].default
    body = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body.endswith("m") and int(body[:-1]) * 1024 * 1024 >= settings["max_form_request_bytes"].default


@pytest.mark.parametrize("layout", LAYOUTS)
def test_forwarded_addresses_are_believed_only_where_the_ingress_alone_reaches_the_gateway(
    layout: str,
) -> None:
    docs = render(layout)
    [config] = of_kind(docs, "ConfigMap").values()
    policy = of_kind(docs, "NetworkPolicy")["gateway-ingress-only"]
    gateway = of_kind(docs, "Deployment")["gateway"]
    # The policy selects the gateway's pods and admits its API port only from one namespace.
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    api_port = int(config["data"]["IMAGESTUDIO_PORT"])
    api_rules = [r for r in policy["spec"]["ingress"] if {p["port"] for p in r["ports"]} == {api_port}]
    assert len(api_rules) == 1 and len(api_rules[0]["from"]) == 1
    assert "namespaceSelector" in api_rules[0]["from"][0]
    assert config["data"]["IMAGESTUDIO_FORWARDED_ALLOW_IPS"] == "*"
