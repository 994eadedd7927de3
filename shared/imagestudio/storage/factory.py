"""Build the configured store once per process."""

from __future__ import annotations

from imagestudio.config import Settings, get_settings
from imagestudio.storage.base import ObjectStore
from imagestudio.storage.local import LocalStore
from imagestudio.storage.s3 import S3Store

_store: ObjectStore | None = None


def build_store(settings: Settings) -> ObjectStore:
    if settings.storage_backend == "s3":
        return S3Store(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            secure=settings.s3_secure,
        )
    return LocalStore(
        settings.resolved_storage_path,
        secret=settings.secret_key.get_secret_value().encode(),
        base_url=settings.base_url,
    )


def get_store() -> ObjectStore:
    global _store
    if _store is None:
        _store = build_store(get_settings())
    return _store


def reset_store() -> None:
    global _store
    _store = None
