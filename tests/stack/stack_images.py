"""The images the stack test runs: waiting for `make test`'s background build, and their sizes.

`make test` (scripts/test.sh) builds the images beside the rest of the suite instead of before it:
it sets ``IMAGESTUDIO_IMAGES_STATUS`` to a file the build writes its exit status into when it ends.
The stack tests wait for that file and fail, never skip, when the build failed or did not end in
time. Without the variable (`make stack-test`, which builds first) there is nothing to wait for.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from stack_containers import ROOT, engine

#: Longest wait for the background build: a cold build took 8-10 min on a loaded 2-core machine.
BUILD_WAIT_SECONDS = 1500
#: The table of image sizes in the operating guide: image, before, now, the bound a test holds.
SIZES_DOC = ROOT / "docs/operating.md"
SIZE_ROW = re.compile(r"^\| `(imagestudio/[a-z-]+)` \| (\d+) MB \| (\d+) MB \| (\d+) MB \|", re.MULTILINE)


def wait_for_images() -> None:
    """Return once the background build has succeeded; fail with its log's end if it failed."""
    status = os.environ.get("IMAGESTUDIO_IMAGES_STATUS")
    if not status:
        return
    path = Path(status)
    deadline = time.monotonic() + BUILD_WAIT_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the image build did not end within {BUILD_WAIT_SECONDS} s ({path})")
        time.sleep(2)
    code = path.read_text().strip()
    if code != "0":
        log = Path(os.environ.get("IMAGESTUDIO_IMAGES_LOG", "/dev/null"))
        tail = "\n".join(log.read_text().splitlines()[-40:]) if log.is_file() else ""
        raise AssertionError(f"make images failed (exit status {code}):\n{tail}")


def documented_sizes() -> dict[str, tuple[int, int, int]]:
    """Image -> (MB before, MB now, MB bound) from docs/operating.md's table."""
    return {m[0]: (int(m[1]), int(m[2]), int(m[3])) for m in SIZE_ROW.findall(SIZES_DOC.read_text())}


def image_size(image: str) -> int:
    """The image's size in bytes as the engine reports it (its layers, uncompressed)."""
    result = subprocess.run(
        [*engine(), "image", "inspect", "--format", "{{.Size}}", f"{image}:latest"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{image}:latest is missing: {result.stderr}"
    return int(result.stdout.strip())


def run_in_image(image: str, *command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in a throw-away container of ``image:latest`` (read-only root, as compose runs it)."""
    args = [*engine(), "run", "--rm", "--network", "host", "--read-only"]
    if engine() != ["docker"]:
        args += ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    return subprocess.run([*args, f"{image}:latest", *command], capture_output=True, text=True, timeout=300)
