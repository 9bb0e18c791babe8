"""Fail fast, before any cluster work, on a storage location a run could not use: one it cannot write, or a
node-local path on a cluster of several nodes."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from raytl.errors import InputError
from raytl.pipeline.storage import ALLOWED, CLOUD_SCHEMES, is_local, local_path

SHARED_FS_ENV = "RAYTL_SHARED_FS"


def check_writable(uri: str, *, key_path: str, file: str) -> None:
    """Fail fast on a storage location the run could not write; creates a local directory if needed.

    Cloud URIs are only checked for a supported scheme: reaching the bucket needs the cluster's credentials.

    >>> check_writable("/tmp/raytl-doc", key_path="storage.path", file="space.yaml")
    >>> check_writable("az://c/runs", key_path="storage.path", file="space.yaml")
    Traceback (most recent call last):
    raytl.errors.InputError: space.yaml: storage.path: unsupported scheme 'az://'; allowed: a local ...
    """
    if not is_local(uri):
        scheme = urlsplit(uri).scheme
        if scheme not in CLOUD_SCHEMES:
            raise InputError(f"{file}: {key_path}: unsupported scheme '{scheme}://'; allowed: {ALLOWED}")
        return
    try:
        path = local_path(uri)
    except ValueError as exc:
        raise InputError(f"{file}: {key_path}: {exc}; allowed: {ALLOWED}") from exc
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".raytl-write-test-{uuid.uuid4().hex}")
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(
            f"{file}: {key_path}: cannot write to '{path}' ({reason}); allowed: a writable directory, "
            "or an s3:// or gs:// URI"
        ) from exc


def check_multinode(uri: str, num_nodes: int, *, file: str, key_path: str, shared: bool = False) -> None:
    """Refuse a node-local path when the Ray cluster has several nodes.

    Trials on other nodes write checkpoints there, so it must be an object store or a filesystem mounted at
    the same path on every node: declared with `shared=True` (storage.shared_filesystem: true) or by
    listing its mount point in RAYTL_SHARED_FS (paths separated by ':').

    >>> check_multinode("s3://bucket/runs", 4, file="space.yaml", key_path="storage.path")
    >>> check_multinode("/mnt/nfs/runs", 4, file="space.yaml", key_path="storage.path", shared=True)
    """
    if num_nodes <= 1 or not is_local(uri) or shared:
        return
    path = Path(local_path(uri))
    if any(path.is_relative_to(mount) for mount in shared_mounts()):
        return
    raise InputError(
        f"{file}: {key_path}: '{path}' is local to one machine but the Ray cluster has {num_nodes} nodes; "
        f"allowed: an s3:// or gs:// URI, or a shared mount (set storage.shared_filesystem: true, or list "
        f"its mount point in {SHARED_FS_ENV})"
    )


def shared_mounts() -> list[Path]:
    """Mount points the user declared shared in RAYTL_SHARED_FS, as absolute paths: with
    RAYTL_SHARED_FS=/mnt/nfs:/fsx, `[PosixPath('/mnt/nfs'), PosixPath('/fsx')]`."""
    entries = os.environ.get(SHARED_FS_ENV, "").split(os.pathsep)
    return [Path(os.path.abspath(os.path.expanduser(e))) for e in entries if e.strip()]
