"""The direct requirements the lock (requirements/*.txt) is compiled from, and their digest.

`make lock` writes the digest into the lock's first line; tests/unit/deploy/test_lock.py recomputes
it, so a dependency added to or changed in any pyproject.toml or requirements-dev.txt without
`make lock` fails a test. Only the requirement lists count (dependencies and optional groups):
other pyproject edits leave it alone.

Each image installs only what its service needs: the shared package's dependencies, the groups
(extras) of it that the service's pyproject.toml names (``imagestudio[serve]``) and the service's
own third-party requirements; ``--service`` prints that list for requirements/runtime-<service>.txt.

    python scripts/lock_inputs.py                    # prints the digest
    python scripts/lock_inputs.py --services         # the services with an image of their own
    python scripts/lock_inputs.py --service gateway  # that image's direct requirements
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
    """Each input's third-party requirements, keyed by its path (``path[group]`` for an optional group)."""
    own = local_names()
    found: dict[str, list[Requirement]] = {}
    for path in PYPROJECTS:
        project = tomllib.loads(path.read_text())["project"]
        name = str(path.relative_to(ROOT))
        found[name] = [
            r
            for r in map(Requirement, project.get("dependencies", []))
            if canonicalize_name(r.name) not in own
        ]
        for group, deps in sorted(project.get("optional-dependencies", {}).items()):
            found[f"{name}[{group}]"] = [Requirement(d) for d in deps]
    lines = (line.split("#", 1)[0].strip() for line in DEV_REQUIREMENTS.read_text().splitlines())
    found[DEV_REQUIREMENTS.name] = [Requirement(line) for line in lines if line]
    return found


def services() -> list[str]:
    """The services that get an image of their own (services/<name>/pyproject.toml)."""
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))


def service_requirements(service: str) -> list[Requirement]:
    """What ``service``'s image installs: the shared package's requirements and the groups it names."""
    inputs = direct_requirements()
    shared = "shared/pyproject.toml"
    project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]
    found = list(inputs[shared])
    for dep in map(Requirement, project.get("dependencies", [])):
        if canonicalize_name(dep.name) == "imagestudio":
            for group in sorted(dep.extras):
                found += inputs[f"{shared}[{group}]"]
    found += inputs[f"services/{service}/pyproject.toml"]
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
    if sys.argv[1:] == ["--services"]:
        sys.stdout.write("\n".join(services()) + "\n")
    elif sys.argv[1:2] == ["--service"]:
        sys.stdout.write("\n".join(str(r) for r in service_requirements(sys.argv[2])) + "\n")
    else:
        sys.stdout.write(digest() + "\n")
