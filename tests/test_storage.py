"""raytl.pipeline.storage on local paths and file:// URIs; S3 against an in-process moto server when installed."""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from raytl.errors import InputError
from raytl.pipeline import storage, storage_checks
from tests.objectstore import s3_bucket


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- resolve / is_local ---------------------------------------------------------------------------------


def test_resolve_makes_local_paths_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fs, path = storage.resolve("runs/exp1")
    assert isinstance(fs, pafs.LocalFileSystem)
    assert path == str(tmp_path / "runs" / "exp1")


def test_resolve_file_uri(tmp_path: Path) -> None:
    fs, path = storage.resolve(f"file://{tmp_path}/runs")
    assert isinstance(fs, pafs.LocalFileSystem)
    assert path == f"{tmp_path}/runs"


@pytest.mark.parametrize("uri", ["az://container/runs", "http://example.com/runs", "file://host/runs"])
def test_resolve_rejects_unsupported(uri: str) -> None:
    with pytest.raises(ValueError):
        storage.resolve(uri)


def test_is_local() -> None:
    assert storage.is_local("/data/runs")
    assert storage.is_local("relative/runs")
    assert storage.is_local("file:///data/runs")
    assert not storage.is_local("s3://bucket/runs")
    assert not storage.is_local("gs://bucket/runs")


# --- check_writable / check_multinode -------------------------------------------------------------------


def test_check_writable_creates_local_dir(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    storage_checks.check_writable(str(target), key_path="storage.path", file="space.yaml")
    assert target.is_dir()
    assert list(target.iterdir()) == []  # the write probe is cleaned up


def test_check_writable_refuses_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError) as err:
        storage_checks.check_writable(str(tmp_path / "afile" / "runs"), key_path="storage.path", file="space.yaml")
    message = str(err.value)
    assert message.startswith("space.yaml: storage.path: cannot write to")
    assert "s3://" in message and "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_check_writable_refuses_read_only_dir(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(InputError, match="space.yaml: storage.path: cannot write"):
        storage_checks.check_writable(str(ro), key_path="storage.path", file="space.yaml")


@pytest.mark.parametrize("uri", ["s3://bucket/runs", "gs://bucket/runs"])
def test_check_writable_accepts_cloud_schemes_offline(uri: str) -> None:
    storage_checks.check_writable(uri, key_path="storage.path", file="space.yaml")


@pytest.mark.parametrize("uri", ["az://c/runs", "hdfs://nn/runs", "file://host/runs"])
def test_check_writable_refuses_unsupported(uri: str) -> None:
    with pytest.raises(InputError, match=r"^space\.yaml: storage\.path: .*allowed: .*s3://"):
        storage_checks.check_writable(uri, key_path="storage.path", file="space.yaml")


def test_check_multinode_refuses_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(storage_checks.SHARED_FS_ENV, raising=False)
    with pytest.raises(InputError) as err:
        storage_checks.check_multinode(str(tmp_path), 3, file="space.yaml", key_path="storage.path")
    message = str(err.value)
    assert message.startswith("space.yaml: storage.path: ")
    assert "3 nodes" in message and "s3://" in message and "gs://" in message
    assert storage_checks.SHARED_FS_ENV in message and "shared_filesystem" in message


def test_check_multinode_allows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(storage_checks.SHARED_FS_ENV, raising=False)
    kw = {"file": "space.yaml", "key_path": "storage.path"}
    storage_checks.check_multinode(str(tmp_path), 1, **kw)
    storage_checks.check_multinode("s3://bucket/runs", 8, **kw)
    storage_checks.check_multinode(f"file://{tmp_path}", 8, shared=True, **kw)


def test_check_multinode_shared_fs_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = tmp_path / "nfs"
    monkeypatch.setenv(storage_checks.SHARED_FS_ENV, f"/elsewhere{os.pathsep}{mount}")
    kw = {"file": "space.yaml", "key_path": "storage.path"}
    storage_checks.check_multinode(str(mount / "runs"), 4, **kw)
    storage_checks.check_multinode(f"file://{mount}", 4, **kw)
    with pytest.raises(InputError):  # a sibling whose name merely starts with the mount's name
        storage_checks.check_multinode(str(tmp_path / "nfs2" / "runs"), 4, **kw)


# --- file operations ------------------------------------------------------------------------------------


@pytest.fixture(params=["path", "file_uri"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path) if request.param == "path" else f"file://{tmp_path}"


def test_write_read_exists_listdir_delete(base: str, tmp_path: Path) -> None:
    assert not storage.exists(f"{base}/run/state.json")
    assert storage.listdir(f"{base}/run") == []
    storage.write_bytes(f"{base}/run/state.json", b"v1")
    storage.write_bytes(f"{base}/run/state.json", b"v2")
    storage.write_bytes(f"{base}/run/phase1/model.bin", b"\x00\x01")
    assert storage.read_bytes(f"{base}/run/state.json") == b"v2"
    assert storage.exists(f"{base}/run/phase1")
    assert storage.listdir(f"{base}/run") == ["phase1", "state.json"]  # no temporary files left
    storage.delete_dir(f"{base}/run")
    assert not (tmp_path / "run").exists()
    storage.delete_dir(f"{base}/run")  # idempotent
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(f"{base}/run/state.json")


def test_upload_download_roundtrip(base: str, tmp_path: Path) -> None:
    src = tmp_path / "ckpt"
    (src / "shards").mkdir(parents=True)
    (src / "shards" / "rank0.pt").write_bytes(os.urandom(3000))
    (src / "meta.json").write_bytes(b"{}")
    storage.upload_dir(str(src), f"{base}/store/ckpt")
    storage.download_dir(f"{base}/store/ckpt", str(tmp_path / "back"))
    assert _tree(tmp_path / "back") == _tree(src)


def test_failed_write_leaves_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    storage.write_bytes(str(target), b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "simulated disk error")

    monkeypatch.setattr(storage.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="simulated"):
        storage.write_bytes(str(target), b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_concurrent_reader_never_sees_partial_file(tmp_path: Path) -> None:
    target = str(tmp_path / "blob")
    payloads = [bytes([65 + i]) * 2_000_000 for i in range(3)]
    storage.write_bytes(target, payloads[0])
    done = threading.Event()
    seen: list[bytes] = []

    def reader() -> None:
        while not done.is_set():
            seen.append(storage.read_bytes(target))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(30):
        storage.write_bytes(target, payloads[i % 3])
    done.set()
    thread.join()
    assert seen and all(data in payloads for data in seen)


# --- create_exclusive -----------------------------------------------------------------------------------


def _race_threads(uri: str, n: int) -> list[bool]:
    barrier = threading.Barrier(n)
    results: list[bool] = [False] * n

    def attempt(i: int) -> None:
        barrier.wait()
        results[i] = storage.create_exclusive(uri, f"writer-{i}".encode())

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("round_", range(5))
def test_create_exclusive_threads_one_winner(base: str, tmp_path: Path, round_: int) -> None:
    results = _race_threads(f"{base}/claims/phase1.claim", 8)
    assert results.count(True) == 1
    winner = results.index(True)
    assert (tmp_path / "claims" / "phase1.claim").read_bytes() == f"writer-{winner}".encode()
    assert os.listdir(tmp_path / "claims") == ["phase1.claim"]


def test_create_exclusive_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_link(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(storage.os, "link", no_link)
    results = _race_threads(str(tmp_path / "claim"), 8)
    assert results.count(True) == 1
    assert (tmp_path / "claim").read_bytes() == f"writer-{results.index(True)}".encode()
    assert os.listdir(tmp_path) == ["claim"]


def test_create_exclusive_propagates_real_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_link(src: str, dst: str) -> None:
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(storage.os, "link", failing_link)
    with pytest.raises(OSError, match="simulated"):
        storage.create_exclusive(str(tmp_path / "claim"), b"x")
    assert os.listdir(tmp_path) == []


def _claim_many(directory: str, names: int, who: int, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:
    barrier.wait()
    won = [storage.create_exclusive(f"{directory}/claim-{k}", f"p{who}".encode()) for k in range(names)]
    out.put((who, won))


def test_create_exclusive_processes_one_winner_per_name(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    n_procs, names = 4, 40
    barrier, out = ctx.Barrier(n_procs), ctx.Queue()
    args = [(str(tmp_path), names, i, barrier, out) for i in range(n_procs)]
    procs = [ctx.Process(target=_claim_many, args=a) for a in args]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    for k in range(names):
        winners = [who for who, won in results.items() if won[k]]
        assert len(winners) == 1
        assert (tmp_path / f"claim-{k}").read_bytes() == f"p{winners[0]}".encode()
    assert len(os.listdir(tmp_path)) == names


# --- S3 against moto on 127.0.0.1 (optional) -------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_root() -> Iterator[str]:
    with s3_bucket("raytl-test") as bucket:
        yield storage.join(bucket, "runs")


def _s3(root: str, sub: str) -> str:
    return storage.join(root, sub)


def test_s3_operations(s3_root: str, tmp_path: Path) -> None:
    assert storage.resolve(_s3(s3_root, "a/b"))[1] == "raytl-test/runs/a/b"
    storage_checks.check_writable(s3_root, key_path="storage.path", file="space.yaml")
    storage.write_bytes(_s3(s3_root, "run/state.json"), b"v1")
    storage.write_bytes(_s3(s3_root, "run/state.json"), b"v2")
    assert storage.read_bytes(_s3(s3_root, "run/state.json")) == b"v2"
    assert storage.exists(_s3(s3_root, "run"))
    src = tmp_path / "ckpt"
    (src / "shards").mkdir(parents=True)
    (src / "shards" / "rank0.pt").write_bytes(os.urandom(5000))
    (src / "meta.json").write_bytes(b"{}")
    storage.upload_dir(str(src), _s3(s3_root, "run/ckpt"))
    assert storage.listdir(_s3(s3_root, "run")) == ["ckpt", "state.json"]
    storage.download_dir(_s3(s3_root, "run/ckpt"), str(tmp_path / "back"))
    assert _tree(tmp_path / "back") == _tree(src)
    assert storage.create_exclusive(_s3(s3_root, "run/claim"), b"first")
    assert not storage.create_exclusive(_s3(s3_root, "run/claim"), b"second")
    assert storage.read_bytes(_s3(s3_root, "run/claim")) == b"first"
    storage.delete_dir(_s3(s3_root, "run"))
    assert not storage.exists(_s3(s3_root, "run/state.json"))
    assert storage.listdir(_s3(s3_root, "run")) == []
