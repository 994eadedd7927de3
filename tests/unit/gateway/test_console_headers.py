"""The console page's security headers: a strict Content-Security-Policy and no framing."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from support import Embedded, reload_settings


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def test_console_page_forbids_framing_inline_code_and_foreign_scripts(embedded: Embedded) -> None:
    page = embedded.client.get("/studio/")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = _policy(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]  # no inline style attribute or element
    assert policy["connect-src"] == ["'self'"]
    # The one inline script, the import map, is allowed by its hash and nothing else inline is.
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page.text, re.S)
    assert len(inline) == 1 and '"imports"' in inline[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    # Local results are signed /files links on the gateway's public URL.
    assert policy["img-src"] == ["'self'", "data:", "blob:", "http://testserver"]


def test_console_images_may_come_from_the_s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.console import content_security_policy

    for name, value in {
        "IMAGESTUDIO_STORAGE_BACKEND": "s3",
        "IMAGESTUDIO_S3_ENDPOINT": "objects.example.test:9443",
        "IMAGESTUDIO_S3_SECURE": "true",
        "IMAGESTUDIO_S3_ACCESS_KEY": "access",
        "IMAGESTUDIO_S3_SECRET_KEY": "secret-secret",
    }.items():
        monkeypatch.setenv(name, value)
    reload_settings()
    try:
        policy = _policy(content_security_policy(()))
    finally:
        monkeypatch.undo()
        reload_settings()
    assert policy["img-src"] == ["'self'", "data:", "blob:", "https://objects.example.test:9443"]
