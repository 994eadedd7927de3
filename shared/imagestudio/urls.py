"""The public URL paths the services hand out (job links, problem ``instance``); a leaf module."""

from __future__ import annotations

#: Every public route lives under this prefix (the gateway mounts its routers here).
API_PREFIX = "/api/image-studio"


def job_path(job_id: str) -> str:
    """The job's resource path: its ``self`` link and the ``instance`` of its stored problem."""
    return f"{API_PREFIX}/jobs/{job_id}"


def job_cancel_path(job_id: str) -> str:
    return f"{job_path(job_id)}/cancel"
