"""The phase store: publish atomically with checksums, detect corruption, one builder per phase, stale leases."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from raytl.pipeline.store import PhaseStore


def _write(payload: bytes):
    def write(directory: Path) -> None:
        (directory / "model.safetensors").write_bytes(payload)

    return write


def test_publish_then_verify(tmp_path: Path) -> None:
    store = PhaseStore(tmp_path)
    store.publish("p1", _write(b"weights"), {"task": "mnli"})
    assert store.verified("p1") == tmp_path / "p1"
    assert [b["task"] for b in store.builds()] == ["mnli"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_corruption_is_detected_and_moved_aside(tmp_path: Path) -> None:
    store = PhaseStore(tmp_path)
    store.publish("p1", _write(b"weights"), {})
    (tmp_path / "p1" / "model.safetensors").write_bytes(b"weigh")  # truncated
    assert store.verified("p1") is None
    assert not (tmp_path / "p1").exists()
    assert any(p.name.startswith(".corrupt-p1") for p in tmp_path.iterdir())


def test_missing_manifest_is_not_published(tmp_path: Path) -> None:
    (tmp_path / "p1").mkdir()
    (tmp_path / "p1" / "model.safetensors").write_bytes(b"x")
    assert PhaseStore(tmp_path).verified("p1") is None


def test_exactly_one_lease_among_racers(tmp_path: Path) -> None:
    store = PhaseStore(tmp_path)
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        barrier.wait()
        if store.try_lease("p1", owner=str(i)):
            winners.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_stale_lease_of_a_crashed_owner_is_broken(tmp_path: Path) -> None:
    store = PhaseStore(tmp_path, lease_seconds=0.5)
    assert store.try_lease("p1", owner="crashed")
    assert not store.try_lease("p1", owner="waiter")  # still fresh
    old = time.time() - 5
    os.utime(tmp_path / "p1.lease", (old, old))
    assert not store.try_lease("p1", owner="waiter")  # this call breaks the stale lease...
    assert store.try_lease("p1", owner="waiter")  # ...and the next one takes it


def test_heartbeat_keeps_lease_fresh_and_releases_it(tmp_path: Path) -> None:
    store = PhaseStore(tmp_path, lease_seconds=0.4)
    assert store.try_lease("p1", owner="me")
    with store.heartbeat("p1"):
        time.sleep(0.9)
        assert not store.try_lease("p1", owner="other")
    assert not (tmp_path / "p1.lease").exists()
