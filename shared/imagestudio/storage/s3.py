"""S3-compatible storage through the minio client (MinIO in production, moto's server in tests).

Only calls MinIO supports are used: bucket_exists, make_bucket, put_object, get_object (ranged
when bounded), list_objects, stat_object (exists, size), remove_object, presigned_get_object, presigned_put_object.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import urllib3
from minio import Minio
from minio.datatypes import Object
from minio.error import S3Error
from urllib3.util.retry import Retry

from imagestudio.errors import StorageError
from imagestudio.storage.base import PresignedUrl, StoredObject, content_disposition
from imagestudio.telemetry.tracing import span


class S3Store:
    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str = "us-east-1",
        secure: bool = True,
    ) -> None:
        self.bucket = bucket
        # Explicit timeouts and a bounded retry: a dead store fails a request in seconds, not minutes.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            maxsize=32,
            retries=Retry(total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        )
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            secure=secure,
            http_client=http,
        )
        self._bucket_ready = False

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (first start of a fresh deployment)."""
        if self._bucket_ready:
            return
        try:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(f"cannot create bucket {self.bucket!r}: {exc.code}") from exc
        except Exception as exc:
            raise StorageError(f"object store unreachable: {exc}") from exc
        self._bucket_ready = True

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.ensure_bucket()
        try:
            with span("storage.put", storage_key=key, size_bytes=len(data)):
                self._client.put_object(
                    self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
                )
        except Exception as exc:
            raise StorageError(f"cannot write {key!r}: {exc}") from exc

    def get(self, key: str, *, limit: int | None = None) -> bytes:
        self.ensure_bucket()
        response = None
        try:
            # With a limit, a ranged GET: the store sends at most limit + 1 bytes, whatever was PUT.
            response = self._client.get_object(self.bucket, key, length=limit + 1 if limit is not None else 0)
            return response.read()
        except S3Error as exc:
            if exc.code == "InvalidRange":  # a ranged GET of an empty object
                return b""
            raise StorageError(f"cannot read {key!r}: {exc.code}") from exc
        except Exception as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc
        finally:
            if response is not None:
                response.close()
                response.release_conn()

    def list(self, prefix: str) -> Iterator[StoredObject]:
        self.ensure_bucket()
        try:
            for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if item.object_name is None or item.is_dir:
                    continue
                yield StoredObject(
                    key=item.object_name,
                    size=int(item.size or 0),
                    modified_at=item.last_modified or datetime.now(UTC),
                )
        except Exception as exc:
            raise StorageError(f"cannot list {prefix!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        self.ensure_bucket()
        try:
            self._client.remove_object(self.bucket, key)
        except Exception as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._stat(key) is not None

    def size(self, key: str) -> int | None:
        stat = self._stat(key)
        return None if stat is None else int(stat.size or 0)

    def _stat(self, key: str) -> Object | None:
        """The object's metadata; None when there is no such object."""
        self.ensure_bucket()
        try:
            return self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise StorageError(f"cannot stat {key!r}: {exc.code}") from exc
        except Exception as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc

    def presigned_url(self, key: str, *, ttl_seconds: int, filename: str | None = None) -> PresignedUrl:
        # Signing is local (no request), so it is cheap on every status read.
        expires = timedelta(seconds=ttl_seconds)
        headers: dict[str, str | list[str] | tuple[str]] | None = (
            {"response-content-disposition": content_disposition(filename)} if filename else None
        )
        url = self._client.presigned_get_object(self.bucket, key, expires=expires, response_headers=headers)
        return PresignedUrl(url=url, expires_at=datetime.now(UTC) + expires)

    def presigned_put_url(self, key: str, *, ttl_seconds: int) -> PresignedUrl:
        """A PUT straight to the bucket: large uploads never pass through the gateway."""
        self.ensure_bucket()  # the client's PUT must find the bucket
        expires = timedelta(seconds=ttl_seconds)
        url = self._client.presigned_put_object(self.bucket, key, expires=expires)
        return PresignedUrl(url=url, expires_at=datetime.now(UTC) + expires)

    def check(self) -> None:
        self._bucket_ready = False
        self.ensure_bucket()
