"""Conditional writes on s3:// and gs:// buckets through the cloud SDKs (pyarrow does not expose them): create
"only if absent" (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`), replace and delete "only if unchanged since I
read it" (S3 `If-Match: <etag>`, GCS `ifGenerationMatch=<generation>`). Object leases (`leases.py`) and
`storage.create_exclusive` stand on them; the SDKs load only when a bucket is opened.
"""

from __future__ import annotations

import contextlib
from typing import Protocol
from urllib.parse import parse_qs, urlsplit


class ObjectStore(Protocol):
    """The conditional-write primitives an object lease needs; `token` is the S3 ETag or the GCS generation."""

    def create(self, key: str, data: bytes) -> str | None: ...  # None: the object exists

    def replace(self, key: str, data: bytes, token: str) -> str | None: ...  # None: changed since `token`

    def stat(self, key: str) -> tuple[float, str] | None: ...  # (modified, token); None: absent

    def delete(self, key: str, token: str) -> None: ...  # a no-op if changed since `token`


def object_store(uri: str) -> ObjectStore:
    """The bucket of `uri` behind the `ObjectStore` primitives. The URI's query options are the ones pyarrow
    takes (`region`, `endpoint_override`, `scheme`), so one URI configures both."""
    parts = urlsplit(uri)
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if parts.scheme == "s3":
        return S3Bucket(parts.netloc, options)
    if parts.scheme == "gs":
        return GcsBucket(parts.netloc, options)
    raise ValueError(f"no conditional writes for '{parts.scheme}://' (allowed: s3://, gs://)")


class S3Bucket:
    def __init__(self, bucket: str, options: dict[str, str]) -> None:
        import boto3  # raytl[aws]

        endpoint = options.get("endpoint_override")
        if endpoint and "://" not in endpoint:
            endpoint = f"{options.get('scheme', 'https')}://{endpoint}"
        self.bucket = bucket
        self.client = boto3.client("s3", region_name=options.get("region"), endpoint_url=endpoint)

    def _put(self, key: str, data: bytes, **condition: str) -> str | None:
        try:
            return self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **condition)["ETag"]
        except self.client.exceptions.ClientError as exc:
            if _s3_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                return None
            raise

    def create(self, key: str, data: bytes) -> str | None:
        return self._put(key, data, IfNoneMatch="*")

    def replace(self, key: str, data: bytes, token: str) -> str | None:
        return self._put(key, data, IfMatch=token)

    def stat(self, key: str) -> tuple[float, str] | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            if _s3_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head["LastModified"].timestamp(), head["ETag"]

    def delete(self, key: str, token: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=token)
        except self.client.exceptions.ClientError as exc:
            if _s3_code(exc) not in ("PreconditionFailed", "NoSuchKey", "404"):
                raise


def _s3_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class GcsBucket:
    def __init__(self, bucket: str, options: dict[str, str]) -> None:
        from google.api_core import exceptions  # raytl[gcp]
        from google.cloud import storage

        endpoint = options.get("endpoint_override")
        client_options = {"api_endpoint": f"{options.get('scheme', 'https')}://{endpoint}"} if endpoint else None
        self.bucket = storage.Client(client_options=client_options).bucket(bucket)
        self.lost = (exceptions.PreconditionFailed, exceptions.NotFound)

    def _put(self, key: str, data: bytes, generation: int) -> str | None:
        blob = self.bucket.blob(key)
        try:
            blob.upload_from_string(data, if_generation_match=generation)
        except self.lost:
            return None
        return str(blob.generation)

    def create(self, key: str, data: bytes) -> str | None:
        return self._put(key, data, 0)

    def replace(self, key: str, data: bytes, token: str) -> str | None:
        return self._put(key, data, int(token))

    def stat(self, key: str) -> tuple[float, str] | None:
        blob = self.bucket.get_blob(key)
        return None if blob is None else (blob.updated.timestamp(), str(blob.generation))

    def delete(self, key: str, token: str) -> None:
        with contextlib.suppress(*self.lost):
            self.bucket.blob(key).delete(if_generation_match=int(token))
