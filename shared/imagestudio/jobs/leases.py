"""Job leases on the worker side: who holds a running job, and the heartbeat that keeps it held.

A delivery that claims a job holds a lease on it (``jobs.lease_owner``, ``jobs.lease_until``)
under an owner naming this one message run. While the handler runs, this process's heartbeat
renews every lease it holds every third of ``JOB_LEASE_SECONDS`` in one UPDATE, so a long
provider call keeps its job; a worker that dies stops renewing, its lease expires and another
delivery (a redelivery, or the sweeper's re-stage) takes the job over. The handler also renews at
its progress reports and before each output, and stops when its lease was taken over.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

from imagestudio.config import get_settings
from imagestudio.db import session_scope
from imagestudio.jobs.service import job_service
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)


def new_lease_owner() -> str:
    """An owner for one message run: ``host:pid:uuid`` (operators read the host and pid)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


class LeaseKeeper:
    """This process's heartbeat: renews the leases its running deliveries hold, from one thread."""

    def __init__(self) -> None:
        self._owners: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, owner: str) -> None:
        """Keep ``owner``'s lease renewed until ``release``."""
        with self._lock:
            self._owners.add(owner)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="job-lease-keeper", daemon=True)
                self._thread.start()

    def release(self, owner: str) -> None:
        with self._lock:
            self._owners.discard(owner)

    def held(self) -> set[str]:
        with self._lock:
            return set(self._owners)

    def renew_now(self) -> int:
        """One heartbeat: renew every held lease; how many are still held (tests call it directly)."""
        owners = sorted(self.held())
        if not owners:
            return 0
        with session_scope() as session:
            return job_service.renew_leases(session, owners=owners)

    def _run(self) -> None:
        while True:
            self._wake.wait(get_settings().job_lease_seconds / 3)
            self._wake.clear()
            try:
                self.renew_now()
            except Exception as exc:  # database away: the next beat tries again; never die
                log.warning("job.lease_renew_failed", error=repr(exc))


#: The process's one heartbeat.
lease_keeper = LeaseKeeper()
