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
from urllib.parse import urlsplit

from raytl.pipeline.buckets import ObjectStore, object_store
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
