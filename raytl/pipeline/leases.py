"""Leases: the claim one trial holds while it builds a phase, so that concurrent trials do not build it twice.

A lease is one small file (or object) named after the phase. Taking it must be atomic, and a lease whose owner
stopped renewing it (the owner crashed) must be breakable by exactly one waiter:

- `FileLease` (a local directory or a POSIX shared mount): created exclusively (`storage.create_exclusive`: the
  full content hard-linked into place, so exactly one creator wins), renewed by touching its mtime, broken by
  renaming it aside (rename is atomic, so one breaker wins; the winner then creates anew).
- `ObjectLease` (s3://, gs://): conditional writes, which pyarrow does not expose, so through the cloud SDK:
  created with "only if absent" (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`), renewed and broken with
  "only if unchanged since I read it" (S3 `If-Match: <etag>`, GCS `ifGenerationMatch=<generation>`), a
  compare-and-swap: of several waiters breaking one stale lease, one write succeeds and that writer owns it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from raytl.pipeline.storage import create_exclusive, is_local


class Lease(Protocol):
    def acquire(self, owner: str) -> bool:
        """True if this call took the lease (also by breaking a stale one)."""

    def renew(self) -> bool:
        """Refresh an acquired lease; False if another owner took it meanwhile."""

    def release(self) -> None:
        """Give up an acquired lease."""


def lease_for(uri: str, stale_after: float) -> Lease:
    """The lease at `uri` (a path or an s3:// / gs:// URI) that another owner may break `stale_after` seconds
    after its last renewal."""
    if is_local(uri):
        return FileLease(Path(urlsplit(uri).path if uri.startswith("file://") else uri), stale_after)
    return ObjectLease(uri, stale_after, object_store(uri))


@contextmanager
def held(lease: Lease, stale_after: float) -> Iterator[None]:
    """Renew an acquired lease in the background every `stale_after / 4` s; release it afterwards, whatever
    happens. Losing it (another owner broke it after a long stall) is not fatal: both builders then publish the
    same content, and publishing is idempotent."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(stale_after / 4):
            lease.renew()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        lease.release()


@dataclass
class FileLease:
    path: Path
    stale_after: float

    def acquire(self, owner: str) -> bool:
        if create_exclusive(str(self.path), owner.encode()):
            return True
        try:
            stale = time.time() - self.path.stat().st_mtime > self.stale_after
        except FileNotFoundError:
            return False
        if stale:
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.path, self.path.with_name(f".broken-{uuid.uuid4().hex[:8]}"))
        return False  # the breaker takes the lease on its next poll, by creating it

    def renew(self) -> bool:
        try:
            os.utime(self.path)
            return True
        except FileNotFoundError:
            return False

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


class ObjectStore(Protocol):
    """The conditional-write primitives an object lease needs; `token` is the S3 ETag or the GCS generation."""

    def create(self, key: str, data: bytes) -> str | None: ...  # None: the object exists

    def replace(self, key: str, data: bytes, token: str) -> str | None: ...  # None: changed since `token`

    def stat(self, key: str) -> tuple[float, str] | None: ...  # (modified, token); None: absent

    def delete(self, key: str, token: str) -> None: ...  # a no-op if changed since `token`


@dataclass
class ObjectLease:
    uri: str
    stale_after: float
    store: ObjectStore
    token: str | None = field(default=None, init=False)
    owner: str = field(default="", init=False)

    @property
    def key(self) -> str:
        return urlsplit(self.uri).path.lstrip("/")

    def acquire(self, owner: str) -> bool:
        self.owner, data = owner, owner.encode()
        self.token = self.store.create(self.key, data)
        if self.token is None:
            current = self.store.stat(self.key)
            if current is not None and time.time() - current[0] > self.stale_after:
                self.token = self.store.replace(self.key, data, current[1])
        return self.token is not None

    def renew(self) -> bool:
        if self.token is not None:
            self.token = self.store.replace(self.key, self.owner.encode(), self.token)
        return self.token is not None

    def release(self) -> None:
        if self.token is not None:
            self.store.delete(self.key, self.token)
            self.token = None


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
