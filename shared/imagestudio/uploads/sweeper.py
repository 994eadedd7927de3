"""A background thread in each gateway that sweeps expired uploads every few minutes."""

from __future__ import annotations

import threading

from imagestudio.db import session_scope
from imagestudio.telemetry.logging import get_logger
from imagestudio.uploads.service import upload_service

log = get_logger(__name__)


class UploadSweeper:
    """Calls ``upload_service.sweep`` every ``interval_seconds``; replicas may overlap harmlessly."""

    def __init__(self, *, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="upload-sweeper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        # Wait first: a gateway that starts (or restarts) does not add a sweep to its start-up.
        while not self._stop.wait(self._interval):
            try:
                with session_scope() as session:
                    upload_service.sweep(session)
            except Exception as exc:  # database or store away: try again next time, never die
                log.warning("uploads.sweep_error", error=repr(exc))
