"""The clients' packages as `make dist` builds them, each installed into an empty folder outside the
repository and running a job against a real `imagestudio up`; their versions are the API's."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from sdk_service import Service
from support import ROOT

API_VERSION = json.loads((ROOT / "docs" / "openapi.json").read_text())["info"]["version"]
PYTHON_README = ROOT / "clients" / "python" / "README.md"


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dist")
    _run(["make", "-s", "dist", f"DIST={folder}"], ROOT)
    return folder


def _client_env(service: Service) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGESTUDIO_", "PYTHON", "VIRTUAL_ENV"))}
    return {**env, "IMAGESTUDIO_URL": service.url, "IMAGESTUDIO_API_KEY": service.key, "NO_COLOR": "1"}


def test_the_packages_carry_the_api_version_a_real_description_and_their_changelogs(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    assert names == [
        f"imagestudio-client-{API_VERSION}.tgz",
        f"imagestudio_client-{API_VERSION}-py3-none-any.whl",
        f"imagestudio_client-{API_VERSION}.tar.gz",
    ]
    with zipfile.ZipFile(dist / names[1]) as wheel:
        metadata = wheel.read(f"imagestudio_client-{API_VERSION}.dist-info/METADATA").decode()
    assert "Description-Content-Type: text/markdown" in metadata
    assert PYTHON_README.read_text().strip() in metadata  # the README, whole, as the long description
    with tarfile.open(dist / names[2]) as sdist:
        assert f"imagestudio_client-{API_VERSION}/CHANGELOG.md" in sdist.getnames()
    with tarfile.open(dist / names[0]) as npm:
        files = npm.getnames()
        manifest = json.loads(npm.extractfile("package/package.json").read())  # type: ignore[union-attr]
    assert manifest["version"] == API_VERSION
    assert {"package/CHANGELOG.md", "package/README.md", "package/dist/src/index.d.ts"} <= set(files)
    assert not [f for f in files if "/test/" in f or f.endswith(".ts") and not f.endswith(".d.ts")]
    for changelog in ("clients/python/CHANGELOG.md", "clients/typescript/CHANGELOG.md"):
        assert f"## {API_VERSION}" in (ROOT / changelog).read_text()


def test_the_wheel_and_the_sdist_install_into_an_empty_venv_and_run_the_readme(
    dist: Path, service: Service, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    pip, python = str(venv / "bin" / "pip"), str(venv / "bin" / "python")
    _run([pip, "install", "--quiet", str(next(dist.glob("*.whl")))], tmp_path)
    app = tmp_path / "app"
    app.mkdir()
    assert ROOT not in app.parents
    shutil.copy(service.photo(), app / "photo.png")
    (quickstart,) = re.findall(r"```python\n(.*?)```", PYTHON_README.read_text(), re.S)
    (app / "quickstart.py").write_text(
        quickstart + "\nimport imagestudio_client\nprint(imagestudio_client.__file__)\n"
    )
    ran = _run([python, "quickstart.py"], app, _client_env(service)).stdout
    assert "[('converted', 'webp', 640, 480)]" in ran, ran
    assert "succeeded ['instagram.story.jpg', 'all.zip']" in ran, ran
    assert ran.strip().splitlines()[-1].startswith(str(venv)), ran  # the installed copy, not the checkout

    _run(
        [pip, "install", "--quiet", "--force-reinstall", "--no-deps", str(next(dist.glob("*.tar.gz")))],
        tmp_path,
    )
    version = _run([python, "-c", "import imagestudio_client as c; print(c.__version__)"], app).stdout
    assert version.strip() == API_VERSION
    listed = _run(
        [str(venv / "bin" / "imagestudio-client"), "jobs", "list", "--limit", "2"], app, _client_env(service)
    )
    assert listed.stdout.split()[:3] == ["id", "studio", "status"], listed.stdout


def test_the_npm_tarball_installs_into_an_empty_folder_and_runs_a_job(
    dist: Path, service: Service, tmp_path: Path
) -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "Node 20+ and npm are required for the TypeScript client's package"
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"type": "module", "private": True}))
    tarball = str(next(dist.glob("*.tgz")))
    _run([npm, "install", "--prefer-offline", "--no-audit", "--no-fund", tarball], app)
    shutil.copy(service.photo(), app / "photo.png")
    (app / "job.mjs").write_text(
        """import { readFile } from "node:fs/promises";
import { ImageStudio } from "@imagestudio/client";

const studio = new ImageStudio({ baseUrl: process.env.IMAGESTUDIO_URL, apiKey: process.env.IMAGESTUDIO_API_KEY });
const image = new Blob([await readFile("photo.png")], { type: "image/png" });
const outputs = await studio.run("convert", { image, format: "webp" });
console.log(JSON.stringify(outputs.map((o) => [o.format, o.width, o.height])));
"""
    )
    ran = _run([node, "job.mjs"], app, _client_env(service)).stdout
    assert json.loads(ran) == [["webp", 640, 480]]
