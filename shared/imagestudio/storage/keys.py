"""Object key layout: every key starts with the tenant, so a tenant's data is one prefix."""

from __future__ import annotations

import re
import unicodedata

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


#: The longest file name kept from a client (characters; the extension is kept when cut).
MAX_FILENAME_CHARS = 120
#: Characters no file name keeps: controls, path separators and what Windows refuses.
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
_OUTPUT_WORD = re.compile(r"[\W_]+")


def clean_filename(name: str | None) -> str | None:
    """A client's file name made safe to keep and to send back in Content-Disposition, or None.

    The last path part only (a browser may send ``C:\\fakepath\\beach.jpg``), Unicode normalised
    (NFC), controls and reserved characters replaced, spaces trimmed, leading dots dropped, at most
    ``MAX_FILENAME_CHARS`` characters with the extension kept.
    """
    if not name:
        return None
    base = unicodedata.normalize("NFC", re.split(r"[/\\]", name)[-1])
    base = _UNSAFE_FILENAME.sub("_", base).strip().lstrip(".").strip()
    if not base.strip("_"):
        return None
    if len(base) > MAX_FILENAME_CHARS:
        stem, dot, ext = base.rpartition(".")
        ext = ext[:10] if dot and stem else ""
        base = (
            base[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip() + "." + ext
            if ext
            else base[:MAX_FILENAME_CHARS]
        )
    return base


def download_name(source: str | None, output: str, ext: str) -> str:
    """An output's file name for downloads and the library: its source's stem and the output's name.

    ``download_name("beach.jpg", "instagram.feed_square", "jpg")`` is ``beach-instagram-feed-square.jpg``;
    with no source it is the output's stored name (``instagram.feed_square.jpg``, ``all.zip``).
    """
    key_name = output_key("t", "j", output, ext).rsplit("/", 1)[-1]
    if not source:
        return key_name
    stem = source.rsplit(".", 1)[0] if "." in source.strip(".") else source
    suffix = f".{_safe(ext)}"
    words = output[: -len(suffix)] if output.endswith(suffix) else output
    words = _OUTPUT_WORD.sub("-", words).strip("-") or "output"
    return clean_filename(f"{stem}-{words}{suffix}") or key_name
