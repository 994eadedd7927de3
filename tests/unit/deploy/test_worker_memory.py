"""Every studio worker's pod is sized by the memory model: its memory request and limit, and its threads.

``imagestudio.studios.memory`` derives them from the layout's ConfigMap (``WORKER_MEMORY_BYTES``,
``WORKER_THREADS``, ``MAX_IMAGE_PIXELS``); a manifest that disagrees fails here, with the values
it should have.
"""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import STUDIOS
from test_kubernetes_manifests import LAYOUTS, of_kind, render

from imagestudio.config import Settings
from imagestudio.studios import memory

_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def quantity(value: str | int) -> int:
    """Bytes of a Kubernetes memory quantity (``512Mi``, ``4Gi``, plain bytes)."""
    text = str(value)
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return int(text.removesuffix(suffix)) * factor
    return int(text)


def layout_settings(layout: str) -> Settings:
    """The settings a pod of ``layout`` reads from its ConfigMap (only the ones the model uses)."""
    [config] = of_kind(render(layout), "ConfigMap").values()
    data: dict[str, Any] = config["data"]
    names = ("worker_memory_bytes", "worker_threads", "max_image_pixels", "broker_url")
    given = {
        name: data[f"IMAGESTUDIO_{name.upper()}"] for name in names if f"IMAGESTUDIO_{name.upper()}" in data
    }
    # Pods run distributed (the broker URL comes from the Secret): the per-worker thread counts apply.
    return Settings.model_validate({"broker_url": "amqp://guest:guest@rabbitmq:5672/", **given})


@pytest.mark.parametrize("layout", LAYOUTS)
def test_worker_pods_are_sized_by_the_memory_model(layout: str) -> None:
    settings = layout_settings(layout)
    deployments = of_kind(render(layout), "Deployment")
    wrong = {}
    for studio in STUDIOS:
        [container] = deployments[f"{studio}-worker"]["spec"]["template"]["spec"]["containers"]
        resources = container["resources"]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        found = (
            quantity(resources["requests"]["memory"]),
            quantity(resources["limits"]["memory"]),
            int(env.get("IMAGESTUDIO_WORKER_THREADS", 0)),
        )
        request, limit = memory.pod_memory(studio, settings)
        expected = (request, limit, memory.worker_threads(studio, settings))
        if found != expected:
            wrong[studio] = {
                "requests.memory": f"{expected[0] // 1024**2}Mi",
                "limits.memory": f"{expected[1] // 1024**2}Mi",
                "IMAGESTUDIO_WORKER_THREADS": expected[2],
            }
    assert not wrong, f"worker pods not sized by the memory model; they should be: {wrong}"


def test_the_config_gives_the_memory_budget_the_pods_are_limited_to() -> None:
    settings = layout_settings("base")
    [config] = of_kind(render("base"), "ConfigMap").values()
    assert "IMAGESTUDIO_WORKER_MEMORY_BYTES" in config["data"]
    # Every studio can take a 12 MP photo: no pod is sized below its model's typical job.
    for studio in STUDIOS:
        for name, row in memory.MEMORY.items():
            if row.worker == studio:
                pixels = min(memory.TYPICAL_PIXELS, row.max_pixels or settings.max_image_pixels)
                assert memory.pixel_budget(name, settings) >= pixels, name
