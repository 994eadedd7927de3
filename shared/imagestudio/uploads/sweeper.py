"""A background thread in each gateway that sweeps expired uploads every few minutes."""

from __future__ import annotations

from imagestudio.periodic import PeriodicSweep
from imagestudio.uploads.service import upload_service


class UploadSweeper(PeriodicSweep):
    """Calls ``upload_service.sweep`` every ``interval_seconds``; replicas may overlap harmlessly."""

    def __init__(self, *, interval_seconds: float) -> None:
        super().__init__(
            name="upload-sweeper",
            interval_seconds=interval_seconds,
            sweep=upload_service.sweep,
            failure_event="uploads.sweep_error",
        )
