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


def upload_key(tenant_id: str, upload_id: str, ext: str) -> str:
    """An uploaded image kept for reuse across jobs (``POST /uploads``), under the tenant's prefix."""
    return f"tenants/{tenant_id}/uploads/{_safe(upload_id)}.{_safe(ext)}"
