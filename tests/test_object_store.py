"""Run directories and the phase store on s3:// (a local moto S3 server): leases by conditional writes, publish
with the manifest last, verify on download, corruption discarded, records, push/pull, `raytl store` on a URI."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from raytl.cli import app
from raytl.pipeline import storage
from raytl.pipeline.leases import lease_for
from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.store import PhaseStore
from tests.objectstore import s3_bucket


@pytest.fixture(scope="module")
def bucket() -> Iterator[str]:
    with s3_bucket() as uri:
        yield uri


@pytest.fixture
def prefix(bucket: str, request: pytest.FixtureRequest) -> str:
    return storage.join(bucket, request.node.name.replace("[", "-").replace("]", ""))


def _race(n: int, attempt) -> list[int]:
    winners: list[int] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        if attempt(i):
            winners.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners


def test_exactly_one_of_several_racers_takes_an_object_lease(prefix: str) -> None:
    uri = storage.join(prefix, "p1.lease")
    assert len(_race(6, lambda i: lease_for(uri, 300).acquire(str(i)))) == 1


def test_a_stale_object_lease_is_broken_by_exactly_one_waiter(prefix: str) -> None:
    uri = storage.join(prefix, "p1.lease")
    crashed = lease_for(uri, stale_after=1.0)
    assert crashed.acquire("crashed")
    assert not lease_for(uri, 1.0).acquire("early")  # still fresh
    time.sleep(2.2)  # S3 times have 1 s resolution
    winners = _race(5, lambda i: lease_for(uri, 1.0).acquire(f"waiter-{i}"))
    assert len(winners) == 1
    assert storage.read_bytes(uri) == f"waiter-{winners[0]}".encode()
    assert not crashed.renew(), "the crashed owner learns it lost the lease"


def test_renewed_object_lease_stays_and_release_deletes_it(prefix: str) -> None:
    uri = storage.join(prefix, "p1.lease")
    owner = lease_for(uri, stale_after=2.5)  # more than S3's 1 s time resolution + the renewal interval
    assert owner.acquire("me")
    for _ in range(3):
        time.sleep(1.2)
        assert owner.renew()
        assert not lease_for(uri, 2.5).acquire("other")
    owner.release()
    assert not storage.exists(uri)


def _write(payload: bytes):
    return lambda directory: (directory / "model.safetensors").write_bytes(payload)


def test_phase_published_on_s3_is_loaded_verified_on_another_node(prefix: str, tmp_path: Path) -> None:
    builder = PhaseStore(storage.join(prefix, "phases"), cache=tmp_path / "node-a")
    local = builder.publish("p1", _write(b"weights" * 100), {"task": "mnli", "trial_id": "t1"})
    assert local == tmp_path / "node-a" / "p1" and (local / "model.safetensors").read_bytes() == b"weights" * 100
    names = storage.list_files(storage.join(prefix, "phases", "p1"))
    assert names == ["manifest.json", "model.safetensors"]

    reader = PhaseStore(storage.join(prefix, "phases"), cache=tmp_path / "node-b")
    path = reader.verified("p1")
    assert path == tmp_path / "node-b" / "p1" and (path / "model.safetensors").read_bytes() == b"weights" * 100
    reader.record_reuse("p1", "t2", waited_s=0.5)
    assert [b["task"] for b in reader.builds()] == ["mnli"]
    assert [r["trial_id"] for r in builder.reuses()] == ["t2"]
    assert reader.verified("p1") == path, "a verified cached copy is used again without downloading"
    assert not [p for p in (tmp_path / "node-b").iterdir() if p.name.startswith(".tmp-")]


def test_corrupted_phase_on_s3_is_discarded_never_loaded(prefix: str, tmp_path: Path) -> None:
    location = storage.join(prefix, "phases")
    PhaseStore(location, cache=tmp_path / "a").publish("p1", _write(b"weights"), {})
    storage.write_bytes(storage.join(location, "p1", "model.safetensors"), b"weigh")  # truncated upload
    reader = PhaseStore(location, cache=tmp_path / "b")
    assert reader.verified("p1") is None
    assert not storage.exists(storage.join(location, "p1", "manifest.json")), "discarded, so it gets rebuilt"
    assert not (tmp_path / "b" / "p1").exists()


def test_phase_without_manifest_is_not_published(prefix: str, tmp_path: Path) -> None:
    location = storage.join(prefix, "phases")
    storage.write_bytes(storage.join(location, "p1", "model.safetensors"), b"half an upload")
    assert PhaseStore(location, cache=tmp_path).verified("p1") is None


def test_run_dir_writes_through_and_pulls_small_files(prefix: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYTL_MIRROR", str(tmp_path / "mirror-a"))
    run = RunDir.of(prefix, "exp")
    assert run.remote and run.root == tmp_path / "mirror-a" / "s3" / prefix.split("/")[2].split("?")[0] / (
        f"{prefix.split('/')[3].split('?')[0]}/exp")
    assert run.uri(run.train).startswith(storage.join(prefix, "exp", "train").split("?")[0])
    run.write_json(run.summary("t1"), {"trial_id": "t1"})
    storage.write_bytes(run.uri(run.trial("t1") / "best" / "xnli" / "head.safetensors"), b"w")
    storage.write_bytes(run.uri(run.train / "t1" / "checkpoint_0" / "state.pt"), b"c")
    storage.write_bytes(run.uri(run.tune / "experiment_state-2026.json"), b"{}")

    monkeypatch.setenv("RAYTL_MIRROR", str(tmp_path / "mirror-b"))  # another machine
    other = RunDir(run.location)
    assert other.read_json(other.summary("t1")) == {"trial_id": "t1"}
    other.pull()
    files = sorted(p.relative_to(other.root).as_posix() for p in other.root.rglob("*") if p.is_file())
    assert files == ["trials/t1/summary.json", "tune/experiment_state-2026.json"]


def test_store_ls_and_gc_on_an_s3_run(prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local `raytl store` test's run directory, uploaded: gc removes what it removes locally."""
    from tests.test_store_cli import make_run

    monkeypatch.setenv("RAYTL_MIRROR", str(tmp_path / "mirror"))
    local = make_run(tmp_path)
    uri = storage.join(prefix, "exp")
    storage.upload_dir(str(local.root), uri)
    remote = RunDir(uri)

    listing = CliRunner().invoke(app, ["store", "ls", uri])
    assert listing.exit_code == 0, listing.output
    assert "ok (sizes)" in listing.output and "builds" not in listing.output
    done = CliRunner().invoke(app, ["store", "gc", uri, "--min-age-s", "0"])
    assert done.exit_code == 0, done.output
    left = {c.name for c in storage.children(remote.phases_location) if c.is_dir} - {"builds", "reuses"}
    assert left == {p for p in left if not p.startswith((".corrupt-", ".tmp-"))}
    kept = {line.split()[1].rstrip(":") for line in done.output.splitlines() if line.startswith("keep")}
    assert left == kept, done.output
    assert storage.list_files(remote.uri(remote.train / "best")) == [
        "checkpoint_2026-01-01_00-00-00.000000/progress.json", "checkpoint_manager_snapshot.json"]
