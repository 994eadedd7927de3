"""A background thread in each gateway that deletes assets past their retention every few minutes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from imagestudio.assets.service import asset_service
from imagestudio.jobs.service import job_service
from imagestudio.periodic import PeriodicSweep


def sweep_expired_assets(session: Session) -> int:
    """One pass: assets past ``asset_retention_seconds``, sparing objects queued or running jobs read."""
    return asset_service.sweep(session, in_use=lambda s: job_service.input_keys_in_use(s))


class AssetSweeper(PeriodicSweep):
    """Calls :func:`sweep_expired_assets` every ``interval_seconds``; replicas may overlap harmlessly."""

    def __init__(self, *, interval_seconds: float) -> None:
        super().__init__(
            name="asset-sweeper",
            interval_seconds=interval_seconds,
            sweep=sweep_expired_assets,
            failure_event="assets.sweep_error",
        )
