"""A local-folder object store for the embedded mode; links are HMAC-signed gateway URLs."""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from imagestudio.errors import NotFound, StorageError
from imagestudio.storage.base import PresignedUrl, StoredObject
from imagestudio.telemetry.tracing import span
from imagestudio.urls import API_PREFIX

#: Route the gateway serves signed local files on.
FILES_ROUTE = f"{API_PREFIX}/files/"


def sign(secret: bytes, key: str, expires: int, filename: str | None = None) -> str:
    """The link's signature; a download name, when the link carries one, is signed with it."""
    signed = f"{key}\n{expires}" + (f"\n{filename}" if filename else "")
    return hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()


class LocalStore:
    def __init__(self, root: Path, *, secret: bytes, base_url: str) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = secret
        # PUT links are signed with a key of their own: a download link can never be replayed as an upload.
        self._put_secret = hmac.new(secret, b"imagestudio.storage.put", hashlib.sha256).digest()
        self._base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):  # keys never escape the root
            raise NotFound("No such object")
        return path

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half an object, a crash leaves no torn file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with span("storage.put", storage_key=key, size_bytes=len(data)):
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str, *, limit: int | None = None) -> bytes:
        try:
            if limit is None:
                return self._path(key).read_bytes()
            with self._path(key).open("rb") as fh:
                return fh.read(limit + 1)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise StorageError(f"object {key!r} is missing") from exc

    def list(self, prefix: str) -> Iterator[StoredObject]:
        # Keys are paths: walk the deepest folder the prefix names, then filter on the rest.
        folder = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.name.startswith(".tmp-") or not key.startswith(prefix):
                continue  # a write in flight (``put`` renames it into place)
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            if path.is_file():
                yield StoredObject(
                    key=key, size=stat.st_size, modified_at=datetime.fromtimestamp(stat.st_mtime, UTC)
                )

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def presigned_url(self, key: str, *, ttl_seconds: int, filename: str | None = None) -> PresignedUrl:
        return self._signed_url(key, ttl_seconds=ttl_seconds, secret=self._secret, filename=filename)

    def presigned_put_url(self, key: str, *, ttl_seconds: int) -> PresignedUrl:
        """A gateway URL (``PUT`` on the files route) that writes ``key`` until it expires."""
        return self._signed_url(key, ttl_seconds=ttl_seconds, secret=self._put_secret)

    def _signed_url(
        self, key: str, *, ttl_seconds: int, secret: bytes, filename: str | None = None
    ) -> PresignedUrl:
        """The files route's URL for ``key``, signed with ``secret`` (reads and writes sign apart)."""
        expires = int(time.time()) + ttl_seconds
        signature = sign(secret, key, expires, filename)
        url = f"{self._base_url}{FILES_ROUTE}{quote(key)}?expires={expires}&signature={signature}"
        if filename:
            url += f"&filename={quote(filename, safe='')}"
        return PresignedUrl(url=url, expires_at=datetime.fromtimestamp(expires, UTC))

    def verify_put(self, key: str, *, expires: int, signature: str) -> None:
        """Raise NotFound unless the PUT link for ``key`` is genuine and unexpired."""
        good = sign(self._put_secret, key, expires).encode()
        # Bytes, not str: compare_digest refuses non-ASCII str, and a forged link must be a 404.
        given = signature.encode("utf-8", errors="replace")
        if not hmac.compare_digest(good, given) or expires < time.time():
            raise NotFound("Link expired or invalid")
        self._path(key)  # refuses keys that escape the root

    def verify(self, key: str, *, expires: int, signature: str, filename: str | None = None) -> Path:
        """The file behind a signed link; NotFound when the link is forged, expired or dangling."""
        good = sign(self._secret, key, expires, filename).encode()
        # Bytes, not str: compare_digest refuses non-ASCII str, and a forged link must be a 404.
        given = signature.encode("utf-8", errors="replace")
        if not hmac.compare_digest(good, given) or expires < time.time():
            raise NotFound("Link expired or invalid")
        path = self._path(key)
        if not path.is_file():
            raise NotFound("No such object")
        return path

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not writable")
