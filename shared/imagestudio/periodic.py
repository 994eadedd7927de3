"""A background thread that runs one sweep in its own session every few seconds, and never dies."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from imagestudio.db import session_scope
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)


class PeriodicSweep:
    """Calls ``sweep(session)`` every ``interval_seconds`` from a daemon thread named ``name``.

    It waits first, so a process that starts (or restarts) adds no sweep to its start-up; a
    failing pass (database or store away) is logged as ``failure_event`` and tried again next time.
    """

    def __init__(
        self, *, name: str, interval_seconds: float, sweep: Callable[[Session], object], failure_event: str
    ) -> None:
        self._name = name
        self._interval = interval_seconds
        self._sweep = sweep
        self._failure_event = failure_event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with session_scope() as session:
                    self._sweep(session)
            except Exception as exc:  # never die: the next pass tries again
                log.warning(self._failure_event, error=repr(exc))
