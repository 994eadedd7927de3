"""The README's walk-through, run exactly as written against `imagestudio up` (only the port differs).

Run as a user would paste it (bash -e, no pipefail: `| head` may close a pipe early)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from PIL import Image
from skimage import data as skimage_data
from support import ROOT, imagestudio_up


def walkthrough_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walk-through", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "the walk-through has a bash block"
    return match.group(1)


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    photo = Image.effect_mandelbrot((1600, 1200), (-2, -1.2, 1, 1.2), 60).convert("RGB")
    photo.paste(Image.fromarray(skimage_data.astronaut()), (900, 380))  # a person, as in most photos
    photo.save(tmp_path / "photo.jpg")
    with imagestudio_up(tmp_path, data_dir=tmp_path / ".imagestudio") as (base, env):
        script = walkthrough_block().replace("http://127.0.0.1:8000", base)
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
        assert (tmp_path / "photo-all.zip").exists() and list(tmp_path.glob("photo-instagram-story*"))
        assert "queued" in lines  # the JSON job naming the upload
        compressed = re.search(
            r"^compressed (\d+) -> (\d+) bytes, quality (\d+) SSIM ([\d.]+)$", done.stdout, re.M
        )
        assert compressed, done.stdout  # the target_ssim compression step
        assert float(compressed.group(4)) >= 0.98
        story = re.search(
            r"^story: (\w+) at \[(\d+), (\d+), (\d+), (\d+)\] inside the safe zone: (\w+)$", done.stdout, re.M
        )
        assert story, done.stdout  # the safe-zone-aware story crop step
        assert story.group(1) == "faces" and story.group(6) == "True"
        top, height = int(story.group(3)), int(story.group(5))
        assert top >= 0.14 * 1920 and top + height <= 0.80 * 1920  # clear of Instagram's story bands
        made = re.findall(r"^(control|create) (\S+) (\d+) (\d+) (\S+)$", done.stdout, re.M)
        assert [(studio, name) for studio, name, *_ in made] == [
            ("control", "controlled"),
            ("control", "control_map"),
            ("create", "image-01"),
        ], done.stdout
        assert [provider for *_, provider in made][:2] == ["stability", "local"]  # the simulator, the map
        assert made[2][4] in {"stability", "wavespeed", "gemini"}, made  # a model that takes an init image
        assert made[1][2:4] == ("1600", "1200")  # the edge map is of the photo itself
        statuses = [line.split(" ", 1)[0] for line in lines[-3:]]
        assert statuses == ["202", "202", "422"], lines[-3:]
        assert "image" in lines[-1]
