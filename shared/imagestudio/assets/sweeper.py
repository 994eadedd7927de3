"""A background thread in each gateway that deletes assets past their retention every few minutes:
the service-wide ``asset_retention_seconds``, and each job's own ``output_retention_seconds``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from imagestudio.assets.service import SWEEP_BATCH, asset_service
from imagestudio.db import utcnow
from imagestudio.jobs.service import job_service
from imagestudio.periodic import PeriodicSweep
from imagestudio.telemetry.logging import get_logger

log = get_logger(__name__)


def sweep_expired_assets(session: Session) -> int:
    """One pass: assets past ``asset_retention_seconds``, sparing objects queued or running jobs
    read, then the outputs of jobs past their ``output_retention_seconds``. How many were deleted."""
    deleted = asset_service.sweep(session, in_use=lambda s: job_service.input_keys_in_use(s))
    return deleted + sweep_job_outputs(session)


def sweep_job_outputs(session: Session, *, now: datetime | None = None) -> int:
    """Delete the outputs of jobs whose ``outputs_expire_at`` has passed (favourites too: the
    submission asked for it) and mark each job ``outputs_deleted_at``; committed per job. A job one
    of whose objects the store failed to delete stays due: the next pass retries it."""
    now = now or utcnow()
    deleted = 0
    for job_id in job_service.outputs_due(session, now=now, limit=SWEEP_BATCH):
        removed, complete = asset_service.delete_job_outputs(session, job_id=job_id)
        if complete:
            job_service.mark_outputs_deleted(session, job_id=job_id, now=now)
        session.commit()
        deleted += removed
        log.info("job.outputs_deleted", job_id=job_id, outputs=removed, complete=complete)
    return deleted


class AssetSweeper(PeriodicSweep):
    """Calls :func:`sweep_expired_assets` every ``interval_seconds``; replicas may overlap harmlessly."""

    def __init__(self, *, interval_seconds: float) -> None:
        super().__init__(
            name="asset-sweeper",
            interval_seconds=interval_seconds,
            sweep=sweep_expired_assets,
            failure_event="assets.sweep_error",
        )
