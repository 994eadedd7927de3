"""Object storage: S3/MinIO through the minio client, or a local folder; key layout; download links."""

from imagestudio.storage.base import ObjectStore, PresignedUrl, StoredObject
from imagestudio.storage.factory import get_store, reset_store
from imagestudio.storage.keys import (
    clean_filename,
    download_name,
    incoming_upload_key,
    input_key,
    output_key,
    upload_key,
    uploads_prefix,
)

__all__ = [
    "ObjectStore",
    "PresignedUrl",
    "StoredObject",
    "clean_filename",
    "download_name",
    "get_store",
    "incoming_upload_key",
    "input_key",
    "output_key",
    "reset_store",
    "upload_key",
    "uploads_prefix",
]
