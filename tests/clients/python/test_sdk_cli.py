"""The command line clients from a folder outside the project, knowing only IMAGESTUDIO_URL and IMAGESTUDIO_API_KEY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image
from sdk_service import Service
from support import ROOT

BIN = Path(sys.executable).parent


def _outside(service: Service, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert ROOT not in folder.parents
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGESTUDIO_")}
    env.update(IMAGESTUDIO_URL=service.url, IMAGESTUDIO_API_KEY=service.key, COLUMNS="120")
    (folder / "photo.png").write_bytes(service.photo().read_bytes())
    return folder, env


def _run(
    args: list[str], folder: Path, env: dict[str, str], *, status: int = 0
) -> subprocess.CompletedProcess[str]:
    """``args`` run in ``folder``, which must exit with ``status``."""
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == status, done.stdout + done.stderr
    return done


def test_imagestudio_client_runs_every_command_from_any_folder(service: Service, tmp_path: Path) -> None:
    folder, env = _outside(service, tmp_path)
    cli = str(BIN / "imagestudio-client")

    social = _run([cli, "social", "photo.png", "-f", "instagram.story", "-f", "x.header"], folder, env)
    assert "100%" in social.stderr and "upload" in social.stderr and "running" in social.stderr
    assert Image.open(folder / "social-out" / "instagram.story.jpg").size == (1080, 1920)
    assert (folder / "social-out" / "all.zip").exists()

    upload = json.loads(_run([cli, "--json", "uploads", "create", "photo.png"], folder, env).stdout)
    assert upload["id"].startswith("upl_") and upload["state"] == "ready"
    upscaled = json.loads(
        _run([cli, "--json", "upscale", upload["id"], "--path", "local", "--out", "big"], folder, env).stdout
    )
    assert upscaled["status"] == "succeeded" and Image.open(upscaled["files"][0]).size == (2560, 1920)
    edited = json.loads(
        _run(
            [cli, "--json", "edit", "photo.png", "--operation", "remove_background", "--path", "local"],
            folder,
            env,
        ).stdout
    )
    assert edited["status"] == "succeeded" and len(edited["files"]) == 1
    created = json.loads(_run([cli, "--json", "create", "a red kite", "-o", "count=2"], folder, env).stdout)
    assert created["status"] == "succeeded" and len(created["files"]) == 2

    accepted = json.loads(
        _run([cli, "--json", "social", "photo.png", "-p", "tiktok", "--no-wait"], folder, env).stdout
    )
    watched = json.loads(
        _run([cli, "--json", "jobs", "watch", accepted["id"], "--out", "watched"], folder, env).stdout
    )
    assert watched["status"] == "succeeded" and (folder / "watched" / "tiktok.cover.jpg").exists()
    listed = json.loads(_run([cli, "--json", "jobs", "list", "--limit", "3"], folder, env).stdout)
    assert len(listed) == 3 and listed[0]["id"] == accepted["id"]
    assets = json.loads(_run([cli, "--json", "assets", "list", "--limit", "2"], folder, env).stdout)
    assert len(assets) == 2
    assert "available" in _run([cli, "credits"], folder, env).stdout

    refused = _run([cli, "--json", "social", "photo.png", "-f", "nowhere.story"], folder, env, status=1)
    assert json.loads(refused.stdout)["status"] == 422


def test_imagestudio_client_runs_control_compress_convert_and_image_to_image(
    service: Service, tmp_path: Path
) -> None:
    folder, env = _outside(service, tmp_path)
    cli = str(BIN / "imagestudio-client")

    def run_json(*args: str) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(_run([cli, "--json", *args], folder, env).stdout)
        return answer

    controlled = run_json(
        "control",
        "photo.png",
        "--operation",
        "structure",
        "--prompt",
        "a glass house",
        "--control-strength",
        "0",
    )
    assert controlled["status"] == "succeeded" and controlled["studio"] == "control"
    assert sorted(Path(f).name for f in controlled["files"]) == ["control_map.png", "controlled.png"]
    assert controlled["outputs"][0]["metadata"]["strengths"] == {"control_strength": 0.0}
    transfer = run_json(
        "control", "photo.png", "--operation", "style_transfer", "--style-image", "photo.png",
        "--style-strength", "0.25", "--no-wait",
    )  # fmt: skip
    assert transfer["status"] == "queued" and transfer["params"]["strengths"]["style_strength"] == 0.25

    small = run_json("compress", "photo.png", "--format", "jpeg", "--target-ssim", "0.98", "--out", "small")
    (output,) = small["outputs"]
    assert output["metadata"]["ssim"] >= 0.98 and Image.open(small["files"][0]).format == "JPEG"
    converted = run_json("convert", "photo.png", "--format", "webp", "--out", "webp")
    assert converted["studio"] == "compress" and Image.open(converted["files"][0]).format == "WEBP"

    redrawn = run_json("create", "the same scene at night", "--init-image", "photo.png", "--strength", "0")
    assert redrawn["status"] == "succeeded" and redrawn["params"]["init_image"] is True
    assert [(o["metadata"]["image_to_image"], o["metadata"]["strength"]) for o in redrawn["outputs"]] == [
        (True, 0.0)
    ]

    catalogue = run_json("catalogue", "compress")
    assert [preset["id"] for preset in catalogue["presets"]][:1] == ["web"]
    refused = _run([cli, "--json", "compress", "photo.png", "--target-ssim", "2"], folder, env, status=1)
    assert json.loads(refused.stdout)["field"] == "target_ssim"


def test_the_server_packages_client_commands_need_only_url_and_key(service: Service, tmp_path: Path) -> None:
    folder, env = _outside(service, tmp_path)
    cli = str(BIN / "imagestudio")
    done = _run([cli, "social", "optimize", "photo.png", "-f", "x.header", "--out", "out"], folder, env)
    assert "files in out" in done.stdout, done.stdout
    assert Image.open(folder / "out" / "twitter.header.jpg").size == (1500, 500)
    job_id = json.loads(
        _run([str(BIN / "imagestudio-client"), "--json", "jobs", "list", "--limit", "1"], folder, env).stdout
    )[0]["id"]
    watched = _run([cli, "jobs", "watch", job_id, "--out", "again"], folder, env)
    assert "files in again" in watched.stdout


def test_the_package_installs_into_a_fresh_venv_with_pip(tmp_path: Path) -> None:
    """docs/clients.md's install line, run in a fresh venv from the repository's root."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    docs = (ROOT / "docs" / "clients.md").read_text()
    install = docs.split("```bash\n", 1)[1].split("```", 1)[0].strip()
    assert install == "python -m pip install ./clients/python"
    pip = subprocess.run(
        ["bash", "-eu", "-c", install],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    check = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            "import imagestudio_client, importlib.util as u;"
            "assert u.find_spec('imagestudio') is None, 'the server package came along';"
            "print(imagestudio_client.ImageStudio.__name__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert check.returncode == 0 and check.stdout.strip() == "ImageStudio", check.stderr
    helped = subprocess.run(
        [str(venv / "bin/imagestudio-client"), "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert helped.returncode == 0 and "social" in helped.stdout


def test_lists_print_as_tables_unless_json(service: Service, tmp_path: Path) -> None:
    folder, env = _outside(service, tmp_path)
    cli = str(BIN / "imagestudio-client")
    job = json.loads(_run([cli, "--json", "compress", "photo.png", "--quality", "50"], folder, env).stdout)
    table = _run([cli, "jobs", "list", "--limit", "2"], folder, env).stdout
    header = table.strip().splitlines()[0].split()
    assert header == ["id", "studio", "status", "progress", "created_at", "finished_at"], table
    assert job["id"] in table and "succeeded" in table and "{" not in table
    record = _run([cli, "jobs", "get", job["id"]], folder, env).stdout
    assert any(line.split()[:2] == ["status", "succeeded"] for line in record.splitlines()), record
    providers = _run([cli, "providers", "--kind", "upscale"], folder, env).stdout
    assert "stability" in providers and "{" not in providers.splitlines()[1], providers
    hooks = _run([cli, "webhooks", "deliveries", "--job", job["id"]], folder, env).stdout
    assert hooks.strip() == "(none)", hooks
