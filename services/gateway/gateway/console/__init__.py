"""The web console: static ES modules served at ``/studio/``, long-cached under content-hashed names.

No build step. At startup every file under ``static/`` is hashed; ``/studio/assets/<name>.<hash>.<ext>``
is served with a year's ``immutable`` cache, and the page (never cached) carries an import map from
each module's plain URL to its hashed one, so a relative ``import "./api.js"`` inside a module also
loads the hashed file. A new release changes the hashes, so a browser never mixes old and new files.
The console is only a client of the public API: it holds no routes of its own beyond its files.

The page carries a strict Content-Security-Policy: scripts only from the gateway (the one inline
script, the import map, allowed by its hash), no inline styles or event handlers, images from the
gateway, ``data:``/``blob:`` (local previews) and the store's origin (S3 download links), and no
framing (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from imagestudio.errors import NotFound
from imagestudio.storage.factory import get_store

#: The URL the console lives at (``make up``'s banner links here with the dev key in the fragment).
CONSOLE_PATH = "/studio"
STATIC = Path(__file__).parent / "static"
#: A hashed file never changes, so a browser may keep it for a year without asking again.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Headers on every console response: no sniffing, and no URL (with a key fragment or not) sent on.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
#: The page's inline scripts (only the import map), whose hashes the policy allows.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Bundle:
    """The console's files by served name (hashed and plain), and the page that names them."""

    assets: dict[str, Asset]
    hashed: dict[str, str]
    page: bytes
    #: CSP sources (``'sha256-…'``) of the page's inline scripts.
    script_hashes: tuple[str, ...]


def _hashed_name(relative: str, body: bytes) -> str:
    stem, dot, ext = relative.rpartition(".")
    return f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}{dot}{ext}"


@cache
def bundle() -> Bundle:
    """Read and hash the files once per process; the page's references are rewritten to the hashes."""
    assets: dict[str, Asset] = {}
    hashed: dict[str, str] = {}
    for path in sorted(STATIC.rglob("*")):
        relative = path.relative_to(STATIC).as_posix()
        if not path.is_file() or relative == "index.html":
            continue
        body = path.read_bytes()
        content_type = mimetypes.guess_type(relative)[0] or "application/octet-stream"
        if relative.endswith(".js"):
            content_type = "text/javascript"
        name = _hashed_name(relative, body)
        hashed[relative] = name
        assets[name] = assets[relative] = Asset(body, content_type)
    base = f"{CONSOLE_PATH}/assets/"
    imports = {base + plain: base + name for plain, name in hashed.items() if plain.endswith(".js")}
    page = (STATIC / "index.html").read_text()
    page = page.replace(
        "<!-- importmap -->", f'<script type="importmap">{json.dumps({"imports": imports})}</script>'
    )
    for plain, name in hashed.items():
        page = page.replace(f'"assets/{plain}"', f'"{base}{name}"')
    script_hashes = tuple(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in INLINE_SCRIPT.findall(page)
    )
    return Bundle(assets=assets, hashed=hashed, page=page.encode(), script_hashes=script_hashes)


def _storage_origin() -> str:
    """The origin result links come from: the S3 endpoint's (or the local store's /files on the
    gateway's public URL). Signing is local, so asking the store for a link costs no request."""
    url = urlsplit(get_store().presigned_url("console-csp-origin", ttl_seconds=60).url)
    return f"{url.scheme}://{url.netloc}"


def content_security_policy(script_hashes: tuple[str, ...]) -> str:
    """The page's policy: everything from the gateway, images also from the store, nothing inline."""
    images = " ".join(dict.fromkeys(["'self'", "data:", "blob:", _storage_origin()]))
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *script_hashes]),
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@router.get(CONSOLE_PATH)
def console_redirect() -> RedirectResponse:
    return RedirectResponse(f"{CONSOLE_PATH}/", status_code=308)


@router.get(f"{CONSOLE_PATH}/")
def console_page() -> Response:
    """The single page; never cached, so a new release's hashed names are seen at once."""
    current = bundle()
    headers = {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": content_security_policy(current.script_hashes),
        "X-Frame-Options": "DENY",
        **SAFE_HEADERS,
    }
    return Response(current.page, media_type="text/html", headers=headers)


@router.get(CONSOLE_PATH + "/assets/{name:path}")
def console_asset(name: str) -> Response:
    """A console file: immutable under its hashed name, revalidated under its plain one."""
    current = bundle()
    asset = current.assets.get(name)
    if asset is None:
        raise NotFound(f"no console file {name!r}")
    immutable = name not in current.hashed
    return Response(
        asset.body,
        media_type=asset.content_type,
        headers={"Cache-Control": IMMUTABLE if immutable else "no-cache", **SAFE_HEADERS},
    )
