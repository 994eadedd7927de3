"""The direct requirements the lock (requirements/*.txt) is compiled from, and their digest.

`make lock` writes the digest into the lock's first line; tests/unit/deploy/test_lock.py recomputes
it, so a dependency added to or changed in any pyproject.toml or requirements-dev.txt without
`make lock` fails a test. Only the requirement lists count: other pyproject edits leave it alone.

    python scripts/lock_inputs.py            # prints the digest
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
#: The repository's own projects: resolved from the work tree, never from an index.
PYPROJECTS = sorted(
    [
        ROOT / "shared/pyproject.toml",
        ROOT / "simulators/pyproject.toml",
        ROOT / "clients/python/pyproject.toml",
    ]
    + list((ROOT / "services").glob("*/pyproject.toml"))
)
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
RUNTIME_LOCK = ROOT / "requirements/runtime.txt"
DEV_LOCK = ROOT / "requirements/dev.txt"
DIGEST_PREFIX = "# inputs-sha256: "


def local_names() -> set[str]:
    """Names of the repository's own packages (never looked up in a package index)."""
    return {canonicalize_name(tomllib.loads(p.read_text())["project"]["name"]) for p in PYPROJECTS}


def direct_requirements() -> dict[str, list[Requirement]]:
    """Each input file's third-party requirements, keyed by its path relative to the root."""
    own = local_names()
    found: dict[str, list[Requirement]] = {}
    for path in PYPROJECTS:
        deps = tomllib.loads(path.read_text())["project"].get("dependencies", [])
        found[str(path.relative_to(ROOT))] = [
            r for r in map(Requirement, deps) if canonicalize_name(r.name) not in own
        ]
    lines = (line.split("#", 1)[0].strip() for line in DEV_REQUIREMENTS.read_text().splitlines())
    found[DEV_REQUIREMENTS.name] = [Requirement(line) for line in lines if line]
    return found


def digest() -> str:
    """sha256 over every input's sorted requirement strings."""
    text = "\n".join(
        f"{name}: {req}"
        for name, reqs in sorted(direct_requirements().items())
        for req in sorted(map(str, reqs))
    )
    return hashlib.sha256(text.encode()).hexdigest()


if __name__ == "__main__":
    sys.stdout.write(digest() + "\n")
