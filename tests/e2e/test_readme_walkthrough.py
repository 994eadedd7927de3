"""The README's walk-through, run exactly as written against `imagestudio up` (only the port differs).

Run as a user would paste it (bash -e, no pipefail: `| head` may close a pipe early)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from PIL import Image
from support import ROOT, free_port, wait_for


def walkthrough_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walk-through", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "the walk-through has a bash block"
    return match.group(1)


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    Image.effect_mandelbrot((1600, 1200), (-2, -1.2, 1, 1.2), 60).convert("RGB").save(tmp_path / "photo.jpg")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IMAGESTUDIO_")},
        "IMAGESTUDIO_SECRET_KEY": "e2e-secret-key-0123456789abcdef0123",
        "IMAGESTUDIO_DATA_DIR": str(tmp_path / ".imagestudio"),
        "NO_COLOR": "1",
    }
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [str(Path(sys.executable).parent / "imagestudio"), "up", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def ready() -> bool:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=60, interval=0.2, what="imagestudio up to serve")
        script = walkthrough_block().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        done = subprocess.run(
            ["bash", "-eu", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert "HTTP/1.1 202 Accepted" in done.stdout
        assert "succeeded" in lines
        assert (tmp_path / "all.zip").exists() and list(tmp_path.glob("instagram.story*"))
        assert "queued" in lines  # the JSON job naming the upload
        statuses = [line.split(" ", 1)[0] for line in lines[-3:]]
        assert statuses == ["202", "202", "422"], lines[-3:]
        assert "image" in lines[-1]
    finally:
        up.terminate()
        up.wait(timeout=30)
