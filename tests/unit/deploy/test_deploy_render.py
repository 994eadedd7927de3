"""Every per-studio deployment file is written from the studio registry (``imagestudio deploy render``).

The committed files are what the render writes (``--check``); a hand edit fails it, naming the file;
and adding a studio, measured in a copy of the repository, is one new folder under ``studios/`` and its
name in the registry (the import line and its ``STUDIOS`` entry), everything else written by the render
or built from the registry when the gateway starts (its route: no gateway file).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_support import ROOT, STUDIOS

from imagestudio.cli.deploy import BLOCK_FILES, CONSOLE_STUDIOS, differences, render

#: What a contributor writes for a new studio: its face (a studio of the smallest shape).
_THROWAWAY_FACE = '''"""A studio made by the render test: the smallest face the registry takes."""

from typing import Any

from imagestudio.studios.common.http_routes import SubmitRoute
from imagestudio.studios.common.pricing import Estimate
from imagestudio.studios.common.request import StudioRequest

name = "throwaway"
ROUTE = SubmitRoute("/throwaway", "submit_throwaway", """Accept a throwaway job (202).""")


class Request(StudioRequest):
    """No fields beyond the common ones."""


def check(request: Request, *, files: frozenset[str]) -> None:
    """Nothing to refuse."""


def prepare(session: Any, *, tenant_id: str, request: Request, images: Any) -> Any:
    raise NotImplementedError("the render test never submits a job")


def price(params: Any) -> int:
    return 0


def estimate(params: dict[str, Any], allowed: Any) -> Estimate:
    raise NotImplementedError("the render test never estimates")


def run(ctx: Any) -> None:
    raise NotImplementedError("the render test never runs a job")
'''

#: The files the render writes for one more studio, beside the blocks of :data:`BLOCK_FILES` and the
#: console's list (:data:`CONSOLE_STUDIOS`).
_NEW_STUDIO_FILES = {
    "deploy/k8s/base/workers/throwaway.yaml",
    "services/throwaway-worker/pyproject.toml",
    "services/throwaway-worker/throwaway_worker/__init__.py",
    "services/throwaway-worker/throwaway_worker/main.py",
}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _copy(tmp_path: Path) -> Path:
    """The shared package, the services and the deployment files, committed in a repository of their own."""
    copy = tmp_path / "repo"
    for name in ("shared", "services", "deploy"):
        shutil.copytree(
            ROOT / name, copy / name, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "*.pyc")
        )
    shutil.copy(ROOT / "docker-compose.yml", copy / "docker-compose.yml")
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    _git(copy, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy")
    return copy


def _in_copy(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python in the copy: its shared package and its throwaway worker ahead of the installed ones."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(copy / "shared"), str(copy / "services/gateway"), str(copy / "services/throwaway-worker")]
        ),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_committed_deploy_files_are_what_the_registry_renders() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "imagestudio.cli", "deploy", "render", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert checked.returncode == 0, checked.stderr
    assert differences(ROOT) == []


def test_every_studio_gets_a_worker_package_a_compose_service_and_manifests() -> None:
    files = render(ROOT)

    for studio in STUDIOS:
        assert f"services/{studio}-worker/{studio}_worker/main.py" in files
        assert (
            f"QUEUES = run_studio_worker(Studio.{studio})"
            in files[f"services/{studio}-worker/{studio}_worker/main.py"]
        )
        assert f"queueName: {studio}\n" in files[f"deploy/k8s/base/workers/{studio}.yaml"]
        assert f"  {studio}-worker:\n" in files["docker-compose.yml"]
    assert set(BLOCK_FILES) <= set(files)


def test_check_fails_naming_a_hand_edited_file_and_a_stray_one(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    manifest = copy / "deploy/k8s/base/workers/compress.yaml"
    manifest.write_text(manifest.read_text().replace("maxReplicaCount: 10", "maxReplicaCount: 11"))
    (copy / "deploy/k8s/base/workers/gone.yaml").write_text("kind: Deployment\n")

    checked = _in_copy(copy, "-m", "imagestudio.cli", "deploy", "render", "--check")

    assert checked.returncode == 1
    assert "deploy/k8s/base/workers/compress.yaml" in checked.stderr
    assert "deploy/k8s/base/workers/gone.yaml" in checked.stderr
    assert "deploy/k8s/base/workers/create.yaml" not in checked.stderr


def test_adding_a_studio_is_one_folder_and_one_registry_line(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    face = copy / "shared/imagestudio/studios/throwaway/__init__.py"
    face.parent.mkdir()
    face.write_text(_THROWAWAY_FACE)
    registry = copy / "shared/imagestudio/studios/registry.py"
    text = registry.read_text()
    text = text.replace(
        "from imagestudio.studios import compress, control, create, edit, social, upscale\n",
        "from imagestudio.studios import compress, control, create, edit, social, throwaway, upscale\n",
    )
    registry.write_text(
        text.replace(
            '    "compress": compress,\n', '    "compress": compress,\n    "throwaway": throwaway,\n'
        )
    )
    by_hand = _git(copy, "diff", "--numstat").split()

    rendered = _in_copy(copy, "-m", "imagestudio.cli", "deploy", "render")
    _git(copy, "add", "-A")
    changed = set(_git(copy, "diff", "--cached", "--name-only").split())

    assert rendered.returncode == 0, rendered.stderr
    # By hand: the registry's import line names one more module, and one line is added to STUDIOS.
    assert by_hand == ["2", "1", "shared/imagestudio/studios/registry.py"]
    # Everything else that names a studio is the render's: no gateway, client-list or tier file by hand.
    assert changed == {
        "shared/imagestudio/studios/registry.py",
        "shared/imagestudio/studios/throwaway/__init__.py",
        *BLOCK_FILES,
        CONSOLE_STUDIOS,
        *_NEW_STUDIO_FILES,
    }
    # What the render wrote works: the leaf names the studio, its worker declares its actor, the gateway
    # builds its route from its face (path, operation name, description), and it checks clean.
    declared = _in_copy(
        copy,
        "-c",
        "from imagestudio.broker import get_broker; import throwaway_worker.main as m;"
        "print(m.QUEUES, sorted(a for a in get_broker().actors if a.startswith('throwaway')));"
        "from gateway.routes.studios import router;"
        "print([(r.path, r.name, r.tags, r.description) for r in router.routes if 'throwaway' in r.path])",
    )
    assert declared.returncode == 0, declared.stderr
    assert declared.stdout.split("\n")[-3:-1] == [
        "['throwaway'] ['throwaway.run_job']",
        "[('/throwaway', 'submit_throwaway', ['throwaway'], 'Accept a throwaway job (202).')]",
    ]
    assert _in_copy(copy, "-m", "imagestudio.cli", "deploy", "render", "--check").returncode == 0


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("tree", ["shared/imagestudio", "services/gateway/gateway"])
def test_no_service_code_imports_a_worker_package(tree: str) -> None:
    workers = {f"{studio}_worker" for studio in STUDIOS}
    found = {
        str(path.relative_to(ROOT)): sorted(_imported(path) & workers)
        for path in (ROOT / tree).rglob("*.py")
        if _imported(path) & workers
    }
    assert found == {}
