"""Shared by the deployment tests: the settings the code reads, and kubectl for kustomize."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from imagestudio.config import Settings
from imagestudio.messaging import Studio

ROOT = Path(__file__).resolve().parents[3]
STUDIOS = tuple(Studio)
#: Every worker deployment: one per studio, plus webhook delivery (which runs the gateway image).
WORKERS = (*STUDIOS, "webhooks")


def worker_image(worker: str) -> str:
    """The image a worker runs: its studio's, or the gateway's for webhooks (shared package only)."""
    return "imagestudio/gateway" if worker == "webhooks" else f"imagestudio/{worker}-worker"


def setting_env_names() -> set[str]:
    """Every environment variable Settings reads."""
    return {f"IMAGESTUDIO_{name.upper()}" for name in Settings.model_fields}


def _find_kubectl() -> str | None:
    venv = ROOT / ".venv/bin/kubectl"
    return shutil.which("kubectl") or (str(venv) if venv.exists() else None)


def ops_tool(name: str, find: Callable[[], str | None]) -> str:
    """The tool ``find`` locates, after ``scripts/install-ops-tools.sh`` has run when it was missing;
    the test fails (never skips) when the script could not install it."""
    found = find()
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts/install-ops-tools.sh")], capture_output=True, timeout=600)
        found = find()
    if found is None:
        pytest.fail(f"{name} is missing and scripts/install-ops-tools.sh could not install it")
    return found


def kubectl() -> str:
    """kubectl (its built-in kustomize renders deploy/k8s), installed by the project's script when missing."""
    return ops_tool("kubectl", _find_kubectl)
