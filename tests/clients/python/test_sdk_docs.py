"""Every snippet of docs/clients.md, and the README's SDK lines, run against a real `imagestudio up`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sdk_service import Service
from support import ROOT

from imagestudio.webhooks.signing import new_secret, signed_headers
from imagestudio_client import Job

DOC = ROOT / "docs" / "clients.md"


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def _photo(folder: Path) -> None:
    Image.effect_mandelbrot((1200, 900), (-2, -1.2, 1, 1.2), 60).convert("RGB").save(folder / "photo.jpg")


def test_every_python_snippet_of_the_client_docs_runs(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _photo(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMAGESTUDIO_URL", service.url)
    monkeypatch.setenv("IMAGESTUDIO_API_KEY", service.key)
    snippets = blocks(DOC.read_text(), "python")
    assert len(snippets) == 9
    namespace: dict[str, object] = {}
    for snippet in snippets:
        exec(compile(snippet, str(DOC), "exec"), namespace)
    small, controlled, redrawn = (namespace[name] for name in ("small", "controlled", "redrawn"))
    outputs, endpoint, asset = (namespace[name] for name in ("outputs", "endpoint", "asset"))
    assert [(o.format, o.name) for o in outputs] == [("webp", "compressed")]  # type: ignore[attr-defined]
    assert endpoint.enabled is False and endpoint.event_types == ["job.succeeded"]  # type: ignore[attr-defined]
    assert asset.favorite is True and asset.tags == ["spring-campaign"]  # type: ignore[attr-defined]
    assert isinstance(small, Job) and isinstance(controlled, Job) and isinstance(redrawn, Job)
    assert small.refresh().outputs[0].metadata["ssim"] >= 0.98
    assert [o.name for o in controlled.refresh().outputs] == ["controlled", "control_map"]
    assert [o.metadata["image_to_image"] for o in redrawn.refresh().outputs] == [True]
    by_url = namespace["by_url"]
    assert by_url.status == "succeeded" and by_url.params["image_urls"] == {"image": namespace["photo_url"]}  # type: ignore[attr-defined]
    assert [(o.format, o.width, o.height) for o in by_url.outputs] == [("webp", 1200, 900)]  # type: ignore[attr-defined]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "all.zip",
        "instagram.story.jpg",
        "twitter.header.jpg",
    ]
    assert list((tmp_path / "async-out").iterdir())
    plan, rendered = namespace["plan"], namespace["rendered"]
    assert [entry.format for entry in plan.formats] == ["instagram.story", "custom.partner_banner"]  # type: ignore[attr-defined]
    assert rendered.status == "succeeded"  # type: ignore[attr-defined]

    receive = namespace["receive"]
    assert callable(receive)
    secret = new_secret()
    body = '{"type": "job.succeeded", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "j", "status": "succeeded", "studio": "social"}}'
    headers = signed_headers([secret], msg_id="msg_doc", timestamp=datetime.now(UTC), body=body)
    assert receive(body.encode(), headers, secret) == 204
    assert receive(body.encode(), headers, new_secret()) == 400


def test_the_command_snippet_of_the_client_docs_runs(service: Service, tmp_path: Path) -> None:
    _photo(tmp_path)
    (script,) = blocks(DOC.read_text(), "bash")[1:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGESTUDIO_")}
    env.update(
        IMAGESTUDIO_URL=service.url,
        IMAGESTUDIO_API_KEY=service.key,
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
    )
    done = subprocess.run(
        ["bash", "-eu", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "social-out" / "twitter.header.jpg").exists() and (tmp_path / "big").is_dir()
    assert Image.open(tmp_path / "small" / "compressed.jpg").format == "JPEG"
    assert sorted(p.name for p in (tmp_path / "controlled").iterdir()) == [
        "control_map.png",
        "controlled.png",
    ]
    assert "available" in done.stdout


def readme_sdk_blocks() -> tuple[str, str]:
    """The README walk-through's SDK lines: the Python block and the command line after it."""
    section = (ROOT / "README.md").read_text().split("## Walk-through", 1)[1].split("\n## ", 1)[0]
    (python,) = blocks(section, "python")
    command = blocks(section.split("```python", 1)[1], "bash")[0]
    return python, command


def test_the_readme_sdk_lines_run(service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _photo(tmp_path)
    (tmp_path / ".imagestudio").mkdir()
    (tmp_path / ".imagestudio" / "dev-api-key").write_text(service.key + "\n")
    monkeypatch.chdir(tmp_path)
    python, command = readme_sdk_blocks()
    exec(compile(python.replace("http://127.0.0.1:8000", service.url), "README.md", "exec"), {})
    assert (tmp_path / "sdk-out" / "instagram.story.jpg").exists()

    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the project's .venv
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGESTUDIO_")}
    done = subprocess.run(
        ["bash", "-eu", "-c", command.replace("http://127.0.0.1:8000", service.url)],
        cwd=tmp_path,
        env={**env, "KEY": service.key},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "social-out" / "instagram.story.jpg").exists()
