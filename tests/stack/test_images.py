"""Each image of `make images` carries only its service's dependencies and stays within its stated size."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import stack_images
from packaging.utils import canonicalize_name
from stack_containers import ROOT, compose_config
from stack_images import documented_sizes, image_size, run_in_image, wait_for_images

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]

#: What an image's venv holds: its distributions, and what must not be there (pip, caches, tests).
INSPECT = """
import json, pathlib, importlib.metadata as md
venv = pathlib.Path('/opt/venv')
print(json.dumps({
    'dists': sorted({d.metadata['Name'] for d in md.distributions()}),
    'extra': sorted(str(p) for p in venv.rglob('*')
                    if p.name in ('__pycache__', 'tests', 'pip') or p.suffix == '.pyc')[:20],
}))
"""
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)


def our_images() -> set[str]:
    images = {s["image"].split(":")[0] for s in compose_config()["services"].values()}
    return {i for i in images if i.startswith("imagestudio/")}


def test_every_image_is_within_the_size_the_operating_guide_states() -> None:
    wait_for_images()
    sizes = documented_sizes()
    assert set(sizes) == our_images(), "docs/operating.md's size table must list every image"
    over = {}
    for image, (_, _, bound) in sizes.items():
        measured = image_size(image) / 1e6
        if measured > bound:
            over[image] = f"{measured:.0f} MB > {bound} MB"
    assert not over, f"images grown past their stated bound: {over}"


def test_each_image_holds_exactly_its_services_lock_and_no_pip_caches_or_tests() -> None:
    wait_for_images()
    for image in sorted(our_images()):
        service = image.split("/")[1]
        lock = ROOT / f"requirements/runtime-{service}.txt"
        wanted = {canonicalize_name(n) for n in PIN.findall(lock.read_text())}
        wanted |= {"imagestudio", canonicalize_name(f"imagestudio-{service}")}
        ran = run_in_image(image, "python", "-c", INSPECT)
        assert ran.returncode == 0, f"{image}: {ran.stderr}"
        found = json.loads(ran.stdout)
        installed = {canonicalize_name(n) for n in found["dists"]}
        # A universal lock pins some names for other platforms only (colorama on Windows).
        assert installed <= wanted, f"{image} holds more than {lock.name}: {sorted(installed - wanted)}"
        assert {"numpy", "fastapi", "dramatiq"} <= installed, image
        assert not found["extra"], f"{image} holds {found['extra']}"
    # The groups: the learned cut-out only where the edit studio runs, the HTTP server only in the gateway.
    assert "onnxruntime" not in (ROOT / "requirements/runtime-gateway.txt").read_text()
    assert "uvicorn" not in (ROOT / "requirements/runtime-create-worker.txt").read_text()


def test_the_stack_tests_wait_for_the_background_build_and_fail_when_it_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, log = tmp_path / "images.status", tmp_path / "images.log"
    monkeypatch.setenv("IMAGESTUDIO_IMAGES_STATUS", str(status))
    monkeypatch.setenv("IMAGESTUDIO_IMAGES_LOG", str(log))
    monkeypatch.setattr(stack_images, "BUILD_WAIT_SECONDS", 3)
    with pytest.raises(AssertionError, match="did not end within 3 s"):
        stack_images.wait_for_images()
    log.write_text("building imagestudio/gateway failed\n")
    status.write_text("1\n")
    with pytest.raises(AssertionError, match="exit status 1.*\n.*building imagestudio/gateway failed"):
        stack_images.wait_for_images()
    status.write_text("0\n")
    stack_images.wait_for_images()
