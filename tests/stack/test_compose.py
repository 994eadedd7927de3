"""docker-compose.yml as a compose implementation (podman-compose) reads it: valid, pinned, complete."""

from __future__ import annotations

import re

import pytest
from stack_containers import COMPOSE_VARIABLES, ROOT, compose_config

CONFIG = compose_config()
SERVICES = CONFIG["services"]
OURS = re.compile(r"^imagestudio/")


def test_podman_compose_resolves_every_service_with_its_settings() -> None:
    assert {"migrate", "gateway", "webhooks-worker", "postgres", "rabbitmq", "minio", "redis"} <= set(
        SERVICES
    )
    gateway = SERVICES["gateway"]["environment"]
    for name, value in COMPOSE_VARIABLES.items():
        assert gateway[name] == value, name
    # The anchors merged: every service of ours runs read-only, without capabilities, /tmp in memory.
    for name, service in SERVICES.items():
        if OURS.match(service["image"]):
            assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
            assert service["tmpfs"] == ["/tmp"], name


def test_compose_refuses_to_start_without_the_secrets() -> None:
    with pytest.raises(AssertionError, match="IMAGESTUDIO_SECRETS_KEYS"):
        compose_config({"IMAGESTUDIO_SECRET_KEY": COMPOSE_VARIABLES["IMAGESTUDIO_SECRET_KEY"]})


def test_third_party_images_are_pinned_to_a_release() -> None:
    third_party = {name: s["image"] for name, s in SERVICES.items() if not OURS.match(s["image"])}
    assert set(third_party) == {
        "rabbitmq",
        "postgres",
        "minio",
        "redis",
        "otel-collector",
        "prometheus",
        "grafana",
    }
    for name, image in third_party.items():
        repository, _, tag = image.partition(":")
        assert "@sha256:" in image or re.search(r"^v?\d+\.\d+|^RELEASE\.\d{4}-", tag), (
            f"{name}: {image} is not pinned to a release (major.minor at least, or a digest)"
        )


def test_readme_says_what_each_third_party_image_is_for() -> None:
    readme = (ROOT / "README.md").read_text()
    for service in SERVICES.values():
        image = service["image"]
        if not OURS.match(image):
            assert f"`{image}`" in readme, f"README.md does not name {image}"
