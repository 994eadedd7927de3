"""The object-store interface every adapter implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class PresignedUrl:
    url: str
    expires_at: datetime


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write (or overwrite: writes are idempotent per key) one object."""

    def get(self, key: str) -> bytes:
        """Read one object; raises StorageError when it is missing or unreachable."""

    def delete(self, key: str) -> None:
        """Remove one object; missing objects are not an error."""

    def exists(self, key: str) -> bool:
        """Whether the object exists."""

    def size(self, key: str) -> int | None:
        """The object's length in bytes, or None when it is missing."""

    def presigned_url(self, key: str, *, ttl_seconds: int) -> PresignedUrl:
        """A GET link that works without credentials until ``expires_at``."""

    def presigned_put_url(self, key: str, *, ttl_seconds: int) -> PresignedUrl:
        """A PUT link that writes the object without credentials until ``expires_at``."""

    def check(self) -> None:
        """Raise StorageError when the store is unreachable (health checks)."""
