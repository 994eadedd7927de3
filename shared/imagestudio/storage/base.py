"""The object-store interface every adapter implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import quote


def content_disposition(filename: str) -> str:
    """``attachment`` with the name in ASCII (non-ASCII as ``_``) and in full as RFC 5987 ``filename*``."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


@dataclass(frozen=True)
class PresignedUrl:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class StoredObject:
    """One object as a listing sees it."""

    key: str
    size: int
    modified_at: datetime


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write (or overwrite: writes are idempotent per key) one object."""

    def get(self, key: str, *, limit: int | None = None) -> bytes:
        """Read one object; raises StorageError when it is missing or unreachable.

        With ``limit``, at most ``limit + 1`` bytes are read: a longer answer than ``limit`` means
        the object is larger, and the rest of it is never held in memory.
        """

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix`` (unordered)."""

    def delete(self, key: str) -> None:
        """Remove one object; missing objects are not an error."""

    def exists(self, key: str) -> bool:
        """Whether the object exists."""

    def size(self, key: str) -> int | None:
        """The object's length in bytes, or None when it is missing."""

    def presigned_url(self, key: str, *, ttl_seconds: int, filename: str | None = None) -> PresignedUrl:
        """A GET link that works without credentials until ``expires_at``; with ``filename``, the
        download is named so (``Content-Disposition``)."""

    def presigned_put_url(self, key: str, *, ttl_seconds: int) -> PresignedUrl:
        """A PUT link that writes the object without credentials until ``expires_at``."""

    def check(self) -> None:
        """Raise StorageError when the store is unreachable (health checks)."""
