"""Object storage: S3/MinIO through the minio client, or a local folder; key layout; download links."""

from imagestudio.storage.base import ObjectStore, PresignedUrl
from imagestudio.storage.factory import get_store, reset_store
from imagestudio.storage.keys import input_key, output_key, upload_key

__all__ = ["ObjectStore", "PresignedUrl", "get_store", "input_key", "output_key", "reset_store", "upload_key"]
