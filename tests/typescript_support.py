"""The TypeScript client's package for the tests that run it: npm, its cached install, and a build
of its own (types from docs/openapi.json) in a folder of the test's, so tests running at once never
rebuild each other's ``dist/``."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from support import ROOT

PACKAGE = ROOT / "clients" / "typescript"


def npm(
    *args: str, env: dict[str, str] | None = None, cwd: Path = PACKAGE
) -> subprocess.CompletedProcess[str]:
    found = shutil.which("npm")
    assert found, "npm is required (Node 20+) for the TypeScript client's tests"
    return subprocess.run([found, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def npm_ci() -> Path:
    """The package with its dependencies: ``npm ci`` when package-lock.json changed since the last one."""
    lock = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()
    stamp = PACKAGE / "node_modules" / ".imagestudio-lock-sha256"
    if not stamp.is_file() or stamp.read_text() != lock:
        result = npm("ci", "--no-audit", "--no-fund")
        assert result.returncode == 0, result.stdout + result.stderr
        stamp.write_text(lock)
    return PACKAGE


def built_copy(folder: Path) -> Path:
    """The package's sources built in ``folder`` (its node_modules linked from the package's own):
    the copy's directory, whose ``dist/src/index.js`` a script there imports."""
    npm_ci()
    (folder / "docs").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "openapi.json", folder / "docs" / "openapi.json")
    copy = folder / "clients" / "typescript"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("node_modules", "dist"))
    (copy / "node_modules").symlink_to(PACKAGE / "node_modules")
    result = npm("run", "build", cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
    return copy
