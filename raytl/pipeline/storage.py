"""Where run directories, phase checkpoints and results live: a local path, file://, s3:// or gs://.

Everything goes through pyarrow.fs, the layer Ray Train and Tune use for `storage_path`, so a URI that works
here works there too (including query options such as `s3://bucket/runs?region=eu-west-1`).
Credentials are never part of a URI: pyarrow reads them from the environment, the cloud config files or
the instance's metadata service (IAM instance profile, GCP service account).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

CLOUD_SCHEMES = ("s3", "gs")
# errno values of link() on filesystems without hard links (some FUSE and SMB mounts).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
ALLOWED = "a local directory, a file:// URI, or an s3:// or gs:// URI"


def resolve(uri_or_path: str) -> tuple[pafs.FileSystem, str]:
    """Return the filesystem and the path inside it; local paths become absolute.

    >>> resolve("runs/exp1")[1] == os.path.abspath("runs/exp1")
    True
    >>> resolve("s3://my-bucket/raytl-runs?region=us-west-2")[1]  # with a region, nothing is looked up
    'my-bucket/raytl-runs'
    """
    if is_local(uri_or_path):
        return pafs.LocalFileSystem(), local_path(uri_or_path)
    parts = urlsplit(uri_or_path)
    if parts.scheme not in CLOUD_SCHEMES:
        raise ValueError(f"unsupported scheme '{parts.scheme}://' in '{uri_or_path}'; allowed: {ALLOWED}")
    root = f"{parts.scheme}://{parts.netloc}" + (f"?{parts.query}" if parts.query else "")
    return _cloud_filesystem(root), f"{parts.netloc}{parts.path}".rstrip("/")


@functools.lru_cache(maxsize=16)
def _cloud_filesystem(root: str) -> pafs.FileSystem:
    # One filesystem per bucket: building an S3 filesystem without a region looks the region up over the
    # network, which the checkpoint store would otherwise pay on every call.
    return pafs.FileSystem.from_uri(root)[0]


def join(uri: str, *parts: str) -> str:
    """A child of a path or URI, keeping a URI's query options at the end.

    >>> join("s3://bucket/runs?region=eu-west-1", "exp", "tune/")
    's3://bucket/runs/exp/tune?region=eu-west-1'
    >>> join("/data/runs/", "exp")
    '/data/runs/exp'
    """
    base, sep, query = uri.partition("?")
    joined = "/".join([base.rstrip("/"), *(part.strip("/") for part in parts if part.strip("/"))])
    return joined + (f"?{query}" if sep else "")


def is_local(uri: str) -> bool:
    """True for plain paths and file:// URIs.

    >>> is_local("/data/runs"), is_local("file:///data/runs"), is_local("s3://bucket/runs")
    (True, True, False)
    """
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> str:
    if not uri.startswith("file://"):
        return os.path.abspath(os.path.expanduser(uri))
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(
            f"'{uri}' names host '{parts.netloc}'; a file:// URI needs an absolute path: file:///..."
        )
    return os.path.abspath(parts.path)


def write_bytes(uri: str, data: bytes) -> None:
    """Write a file so that readers see either the old content or all of the new one.

    Locally: write a temporary file in the same directory, fsync, rename over the target. Object stores:
    one upload, which becomes visible only when complete (multipart uploads included).

    >>> write_bytes("/tmp/raytl-doc/state.json", b"{}"); read_bytes("/tmp/raytl-doc/state.json")
    b'{}'
    """
    fs, path = resolve(uri)
    if isinstance(fs, pafs.LocalFileSystem):
        _replace_local(path, data)
        return
    with fs.open_output_stream(path) as out:
        out.write(data)


def _write_temp(path: str, data: bytes) -> str:
    """Write data fully to a fresh temporary file beside path and return its name."""
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _replace_local(path: str, data: bytes) -> None:
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(path))


def _fsync_dir(path: str) -> None:
    # Makes the rename itself durable, so a crash after write_bytes returns cannot bring the old file back.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_bytes(uri: str) -> bytes:
    """The whole content of a file; FileNotFoundError if absent.

    >>> write_bytes("/tmp/raytl-doc/a.txt", b"x"); read_bytes("/tmp/raytl-doc/a.txt")
    b'x'
    """
    fs, path = resolve(uri)
    with fs.open_input_stream(path) as src:
        return src.read()


def exists(uri: str) -> bool:
    """True if a file or directory (on object stores: any object under the prefix) is there.

    >>> exists("/tmp/raytl-doc/never-written")
    False
    """
    fs, path = resolve(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def listdir(uri: str) -> list[str]:
    """Sorted names of the direct children of a directory; [] if it does not exist.

    >>> write_bytes("/tmp/raytl-doc/ls/b", b""); write_bytes("/tmp/raytl-doc/ls/a/c", b"")
    >>> listdir("/tmp/raytl-doc/ls")
    ['a', 'b']
    """
    fs, path = resolve(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
    return sorted(info.base_name for info in infos)


def list_files(uri: str) -> list[str]:
    """Paths (relative, '/'-separated) of every file under a directory, sorted; [] if it does not exist.

    >>> write_bytes("/tmp/raytl-doc/tree/a/b.txt", b""); list_files("/tmp/raytl-doc/tree")
    ['a/b.txt']
    """
    fs, path = resolve(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=True))
    prefix = path.rstrip("/") + "/"
    return sorted(info.path[len(prefix):] for info in infos if info.type == pafs.FileType.File)


@dataclass(frozen=True)
class Child:
    """A direct child of a directory: `size` counts every file under it, `mtime` is its own modification time
    where the filesystem keeps one for directories (local), else its newest file's (object stores)."""

    name: str
    is_dir: bool
    size: int
    mtime: float


def children(uri: str) -> list[Child]:
    """The direct children of a directory, sorted by name; [] if it does not exist.

    >>> write_bytes("/tmp/raytl-doc/kids/p1/w.bin", b"abc")
    >>> [(c.name, c.is_dir, c.size) for c in children("/tmp/raytl-doc/kids")]
    [('p1', True, 3)]
    """
    fs, path = resolve(uri)
    prefix = path.rstrip("/") + "/"
    own = {info.path[len(prefix):]: info for info in
           fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))}
    sizes: dict[str, int] = dict.fromkeys(own, 0)
    newest: dict[str, float] = {}
    for info in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        name = info.path[len(prefix):].split("/", 1)[0]
        sizes[name] = sizes.get(name, 0) + (info.size or 0)
        if info.mtime is not None:
            newest[name] = max(newest.get(name, 0.0), info.mtime.timestamp())
    out = []
    for name in sorted(sizes):
        info = own.get(name)
        mtime = info.mtime.timestamp() if info is not None and info.mtime is not None else newest.get(name, 0.0)
        is_dir = info.type == pafs.FileType.Directory if info is not None else True
        out.append(Child(name, is_dir, sizes[name], mtime))
    return out


def delete(uri: str) -> None:
    """Delete a file, or a directory and everything under it; a missing one is not an error."""
    fs, path = resolve(uri)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.File:
        fs.delete_file(path)
    elif kind == pafs.FileType.Directory:
        fs.delete_dir(path)


def modified(uri: str) -> float | None:
    """The modification time of a file (seconds since the epoch); None if absent or the store does not say."""
    fs, path = resolve(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound or info.mtime is None:
        return None
    return info.mtime.timestamp()


def delete_dir(uri: str) -> None:
    """Delete a directory and everything under it; a missing directory is not an error.

    >>> delete_dir("/tmp/raytl-doc/ls"); exists("/tmp/raytl-doc/ls")
    False
    """
    fs, path = resolve(uri)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_dir(path)


def upload_dir(local_dir: str, uri: str) -> None:
    """Copy a local directory tree to uri (which becomes a copy of local_dir), e.g.
    `upload_dir("/tmp/ckpt", "s3://my-bucket/raytl-runs/run1/ckpt")`."""
    fs, path = resolve(uri)
    pafs.copy_files(
        local_path(local_dir), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
    )


def download_dir(uri: str, local_dir: str) -> None:
    """Copy the tree under uri into local_dir (created if needed).

    >>> write_bytes("/tmp/raytl-doc/bucket/ckpt/model.bin", b"w")  # a local path stands in for s3://bucket/ckpt
    >>> delete_dir("/tmp/raytl-doc/down"); download_dir("/tmp/raytl-doc/bucket/ckpt", "/tmp/raytl-doc/down")
    >>> list_files("/tmp/raytl-doc/down")
    ['model.bin']
    """
    fs, path = resolve(uri)
    Path(local_path(local_dir)).mkdir(parents=True, exist_ok=True)  # pyarrow creates only the tree's subfolders
    pafs.copy_files(
        path, local_path(local_dir), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem()
    )


def create_exclusive(uri: str, data: bytes) -> bool:
    """Create a file only if it does not exist yet; True if this call created it.

    Local and POSIX shared filesystems (NFS included): atomic. The complete content is written to a
    temporary file first and hard-linked into place (link fails if the name exists), so exactly one of
    several concurrent callers wins and no reader ever sees a partial file. Filesystems without hard links
    fall back to os.open(O_CREAT | O_EXCL), still exactly one winner but briefly visible while written.

    Object stores: atomic too, through the store's conditional write (S3 `If-None-Match: *`, GCS
    `ifGenerationMatch=0`; see `raytl.pipeline.buckets`), which pyarrow does not expose.

    >>> delete("/tmp/raytl-doc/claim")  # from an earlier run of this example
    >>> create_exclusive("/tmp/raytl-doc/claim", b"trial-1"), create_exclusive("/tmp/raytl-doc/claim", b"2")
    (True, False)
    """
    if not is_local(uri):
        from raytl.pipeline.buckets import object_store  # the cloud SDKs, only for object stores

        return object_store(uri).create(urlsplit(uri).path.lstrip("/"), data) is not None
    return _create_exclusive_local(resolve(uri)[1], data)


def _create_exclusive_local(path: str, data: bytes) -> bool:
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        return _create_excl_open(path, data)
    finally:
        os.unlink(tmp)
    _fsync_dir(os.path.dirname(path))
    return True


def _create_excl_open(path: str, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return True
