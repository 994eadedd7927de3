"""Object key layout: every key starts with the tenant, so a tenant's data is one prefix."""

from __future__ import annotations

import re

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(part: str) -> str:
    return _SAFE.sub("-", part).strip("-.") or "x"


def input_key(tenant_id: str, job_id: str, field: str, ext: str) -> str:
    return f"tenants/{tenant_id}/jobs/{job_id}/inputs/{_safe(field)}.{_safe(ext)}"


def output_key(tenant_id: str, job_id: str, name: str, ext: str) -> str:
    """``all.zip`` with ext ``zip`` stays ``all.zip`` (downloads keep the name clients expect)."""
    stem = _safe(name)
    suffix = f".{_safe(ext)}"
    return f"tenants/{tenant_id}/jobs/{job_id}/outputs/{stem if stem.endswith(suffix) else stem + suffix}"


def uploads_prefix(tenant_id: str) -> str:
    """Where every object of a tenant's uploads lives (the stray sweep lists it)."""
    return f"tenants/{tenant_id}/uploads/"


def upload_key(tenant_id: str, upload_id: str, ext: str) -> str:
    """An uploaded image kept for reuse across jobs (``POST /uploads``), once checked: no link writes it."""
    return f"{uploads_prefix(tenant_id)}{_safe(upload_id)}.{_safe(ext)}"


def incoming_upload_key(tenant_id: str, upload_id: str, ext: str) -> str:
    """Where a presigned PUT writes an upload before it is checked (then copied to ``upload_key``)."""
    return f"{uploads_prefix(tenant_id)}incoming/{_safe(upload_id)}.{_safe(ext)}"
