"""The web console: static ES modules served at ``/studio/``, long-cached under content-hashed names.

No build step. At startup every file under ``static/`` is hashed; ``/studio/assets/<name>.<hash>.<ext>``
is served with a year's ``immutable`` cache, and the page (never cached) carries an import map from
each module's plain URL to its hashed one, so a relative ``import "./api.js"`` inside a module also
loads the hashed file. A new release changes the hashes, so a browser never mixes old and new files.
The console is only a client of the public API: it holds no routes of its own beyond its files.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from imagestudio.errors import NotFound

#: The URL the console lives at (``make up``'s banner links here with the dev key in the fragment).
CONSOLE_PATH = "/studio"
STATIC = Path(__file__).parent / "static"
#: A hashed file never changes, so a browser may keep it for a year without asking again.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Headers on every console response: no sniffing, and no URL (with a key fragment or not) sent on.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

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
    return Bundle(assets=assets, hashed=hashed, page=page.encode())


@router.get(CONSOLE_PATH)
def console_redirect() -> RedirectResponse:
    return RedirectResponse(f"{CONSOLE_PATH}/", status_code=308)


@router.get(f"{CONSOLE_PATH}/")
def console_page() -> Response:
    """The single page; never cached, so a new release's hashed names are seen at once."""
    return Response(
        bundle().page, media_type="text/html", headers={"Cache-Control": "no-cache", **SAFE_HEADERS}
    )


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
