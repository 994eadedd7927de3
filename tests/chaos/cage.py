"""A worker held to its Kubernetes memory limit: a memory cgroup of its own, as a pod's container has.

The kernel enforces the limit exactly as it does for a container (past it the process is
OOM-killed), and the cgroup's counters say how close the process came (``peak_bytes``) and
whether it was killed (``oom_kills``). A child group is made under this process's own memory
cgroup, on cgroup v1 (``memory.limit_in_bytes``) or v2 (``memory.max``), so nothing outside the
test's own subtree is touched. Where no memory cgroup can be made, ``MemoryCage`` raises: the
memory phase needs the limit enforced, so it fails rather than run unguarded.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CageUnavailable(RuntimeError):
    """Raised when no memory cgroup can be made under this process's own."""


def _own_memory_group() -> tuple[Path, int]:
    """(this process's memory cgroup directory, cgroup version)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return CGROUP_ROOT / "memory" / path.lstrip("/"), 1
        if hierarchy == "0" and controllers == "" and (CGROUP_ROOT / "cgroup.controllers").exists():
            unified = CGROUP_ROOT / path.lstrip("/")
            if "memory" in (unified / "cgroup.controllers").read_text().split():
                return unified, 2
    raise CageUnavailable(
        "this process is in no memory cgroup (neither v1 nor v2 with the memory controller)"
    )


class MemoryCage:
    """One memory cgroup with a hard limit; processes join it with ``preexec`` before they exec."""

    def __init__(self, name: str, limit_bytes: int) -> None:
        parent, self.version = _own_memory_group()
        self.path = parent / f"imagestudio-{name}-{uuid.uuid4().hex[:6]}"
        try:
            self.path.mkdir()
            if self.version == 1:
                (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                # Swap would hide a breach: memsw equal to the limit means none (when accounted).
                memsw = self.path / "memory.memsw.limit_in_bytes"
                if memsw.exists():
                    memsw.write_text(str(limit_bytes))
            else:
                (self.path / "memory.max").write_text(str(limit_bytes))
                (self.path / "memory.swap.max").write_text("0")
        except OSError as exc:
            raise CageUnavailable(f"cannot make a memory cgroup under {parent}: {exc}") from exc
        self.limit_bytes = limit_bytes

    def preexec(self) -> None:
        """For ``subprocess.Popen(preexec_fn=...)``: the child joins the cage before it execs."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    @property
    def peak_bytes(self) -> int:
        """Most memory the cage's processes held at once (page cache included, as for a pod)."""
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        target = self.path / name
        return int(target.read_text()) if target.exists() else 0

    @property
    def oom_kills(self) -> int:
        """Processes the kernel killed for passing the limit."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self) -> None:
        """Remove the group once its processes have ended (a group with members cannot go)."""
        try:
            self.path.rmdir()
        except OSError:
            pass
