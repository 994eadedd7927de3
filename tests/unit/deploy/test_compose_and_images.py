"""docker-compose.yml and the Dockerfile: the whole system, the right images, commands and settings."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import yaml
from deploy_support import ROOT, STUDIOS, WORKERS, setting_env_names
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.console import CONSOLE_PATH

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "deploy/docker/Dockerfile").read_text()
OURS = {"migrate", "gateway", *(f"{s}-worker" for s in WORKERS)}


def test_compose_runs_the_whole_distributed_system() -> None:
    assert set(SERVICES) == OURS | {
        "rabbitmq",
        "postgres",
        "minio",
        "redis",
        "prometheus",
        "grafana",
        "otel-collector",
    }
    assert "management" in SERVICES["rabbitmq"]["image"]
    for name in (
        "rabbitmq",
        "postgres",
        "minio",
        "redis",
        "gateway",
        "prometheus",
        "grafana",
        *(f"{s}-worker" for s in WORKERS),
    ):
        assert SERVICES[name]["healthcheck"]["test"], name


def test_our_services_use_our_images_and_commands() -> None:
    assert SERVICES["migrate"]["command"] == ["imagestudio", "migrate"]
    assert SERVICES["migrate"]["restart"] == "no"
    assert SERVICES["gateway"]["command"] == ["imagestudio", "up"]
    for name in ("migrate", "gateway"):
        assert SERVICES[name]["image"].startswith("imagestudio/gateway:")
        assert SERVICES[name]["build"]["target"] == "gateway"
    for studio in STUDIOS:
        worker = SERVICES[f"{studio}-worker"]
        assert worker["command"] == ["imagestudio", "worker", studio]
        assert worker["image"].startswith(f"imagestudio/{studio}-worker:")
        assert worker["build"]["target"] == "worker" and worker["build"]["args"] == {"STUDIO": studio}
    webhooks = SERVICES["webhooks-worker"]
    assert webhooks["command"] == ["imagestudio", "worker", "webhooks"]
    assert webhooks["image"].startswith("imagestudio/gateway:") and webhooks["build"]["target"] == "gateway"
    for name in OURS:
        assert SERVICES[name]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert SERVICES[name]["read_only"] is True and SERVICES[name]["cap_drop"] == ["ALL"]


def test_migrations_run_once_before_the_services_start() -> None:
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in OURS - {"migrate"}:
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["rabbitmq"]["condition"] == "service_healthy", name


def test_our_services_set_only_settings_the_code_reads() -> None:
    known = setting_env_names()
    for name in OURS:
        env = SERVICES[name]["environment"]
        assert set(env) <= known, (name, set(env) - known)
        assert (
            env["IMAGESTUDIO_BROKER_URL"].startswith("amqp://")
            and "@rabbitmq:5672" in env["IMAGESTUDIO_BROKER_URL"]
        )
        assert "@postgres:5432/" in env["IMAGESTUDIO_DATABASE_URL"]
        assert env["IMAGESTUDIO_S3_ENDPOINT"] == "minio:9000"
        assert env["IMAGESTUDIO_OTLP_ENDPOINT"].startswith("http://otel-collector:")
        assert env["IMAGESTUDIO_RATE_LIMIT_STORAGE_URL"] == "redis://redis:6379/0"
    assert SERVICES["gateway"]["depends_on"]["redis"]["condition"] == "service_healthy"
    for worker in WORKERS:
        assert SERVICES[f"{worker}-worker"]["environment"]["IMAGESTUDIO_METRICS_PORT"] == "9191"


def test_mounted_config_files_exist_and_prometheus_scrapes_our_services() -> None:
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        (name, sd["port"])
        for job in prometheus["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    assert targets == {("gateway", 8000), *((f"{s}-worker", 9191) for s in WORKERS)}


def test_dockerfile_has_one_shared_base_and_non_root_service_stages() -> None:
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", DOCKERFILE, flags=re.M)
    assert [s[1] for s in stages] == ["dist", "lock", "deps", "build", "base", "gateway", "worker"]
    assert dict((alias, image) for image, alias in stages)["gateway"] == "base"
    assert dict((alias, image) for image, alias in stages)["worker"] == "base"
    for stage in ("gateway", "worker"):
        body = DOCKERFILE.split(f"AS {stage}", 1)[1].split("\nFROM ", 1)[0]
        assert re.search(r"^USER 10001", body, flags=re.M), stage
        assert "HEALTHCHECK" in body and "CMD [" in body
        # Only the build stage's venv: no pip install (and so no pip) in the image itself.
        assert "COPY --from=build /opt/venv /opt/venv" in body and "pip" not in body
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".env", "tests"} <= set(dockerignore)


def test_the_gateway_publishes_the_console_at_the_public_url() -> None:
    """`<IMAGESTUDIO_PUBLIC_URL>/studio/` is the console: the gateway serves it on the published port."""
    gateway = SERVICES["gateway"]
    port = gateway["environment"]["IMAGESTUDIO_PORT"]
    assert f"{port}:{port}" in gateway["ports"]
    public = urlsplit(gateway["environment"]["IMAGESTUDIO_PUBLIC_URL"])
    assert (public.hostname, str(public.port)) == ("localhost", port)
    page = TestClient(create_app()).get(f"{CONSOLE_PATH}/")  # no lifespan: the page needs no services
    assert page.status_code == 200 and "<title>Image Studio</title>" in page.text


def test_make_test_builds_the_images_beside_the_suite_not_before_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (prerequisites,) = re.findall(r"^test:(.*)$", makefile, flags=re.M)
    assert "images" not in prerequisites.split()
    assert "scripts/test.sh" in makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    script = (ROOT / "scripts/test.sh").read_text()
    # The build starts in the background before pytest; the stack tests wait on the status it writes.
    assert script.index("scripts/images.sh") < script.index(".venv/bin/pytest")
    assert "IMAGESTUDIO_IMAGES_STATUS=" in script and 'wait "$builder"' in script
