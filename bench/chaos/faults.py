"""The faults: each names where the run lives, when it can strike, what it breaks, and how the cause goes away.

After a fault the benchmark recovers the way the docs tell a user to (README, "Fault tolerance"): wait for
`raytl search` to end; when it did not finish cleanly, remove the cause (`heal`) and run `raytl resume RUN_DIR`.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.chaos import environments
from bench.chaos.environments import Place
from bench.chaos.search import Raytl, session_pids, summaries


@dataclass
class Strike:
    """What a fault gets to act on: the search, where its run is, a seeded random source, its own notes."""

    search: Raytl
    place: Place
    run: Path  # the run directory as this machine sees it
    rng: random.Random
    notes: dict[str, Any]


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    place: Callable[[Path, random.Random, int], AbstractContextManager[Place]]  # (work dir, rng, reference run bytes)
    ready: Callable[[Strike], bool]
    inject: Callable[[Strike], None]
    heal: Callable[[Strike], None] = lambda strike: None
    cheap: bool = False  # in --smoke (one fault that kills the driver and damages a file covers both)


def _anytime(strike: Strike) -> bool:
    return True


def _local(work: Path, rng: random.Random, size: int) -> AbstractContextManager[Place]:
    return environments.local_dir(work)


def _kill_driver(strike: Strike) -> None:
    strike.search.kill()


def _train_workers(strike: Strike) -> list[int]:
    pids = []
    for pid in session_pids(strike.search.process.pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::RayTrainWorker"):
                pids.append(pid)
    return pids


def _kill_train_worker(strike: Strike) -> None:
    pid = strike.rng.choice(sorted(_train_workers(strike)))
    os.kill(pid, signal.SIGKILL)
    strike.notes["killed"] = pid


def _damageable(run: Path) -> list[Path]:
    """Published phase files (not the build and reuse records beside them) and the trials' checkpoint files: what
    a later reader trusts."""
    phases = [p for p in run.glob("phases/*/*") if p.is_file() and p.name != "manifest.json"
              and (p.parent / "manifest.json").is_file() and not p.parent.name.startswith(".")]
    checkpoints = [p for p in run.glob("train/*/checkpoint_*/**/*") if p.is_file() and p.suffix in (".pt", ".json")]
    return sorted(phases + checkpoints)


def _corrupt_then_crash(strike: Strike) -> None:
    """Truncate one file to half its size or flip bytes in its middle, as a crash or bad disk leaves it, then
    kill the driver, so the recovery (`raytl resume`) is what reads it."""
    target = strike.rng.choice(_damageable(strike.run))
    data = bytearray(target.read_bytes())
    if strike.rng.random() < 0.5:
        target.write_bytes(bytes(data[: len(data) // 2]))
        how = "truncated to half"
    else:
        middle = len(data) // 2
        data[middle: middle + 16] = bytes(255 - b for b in data[middle: middle + 16])
        target.write_bytes(bytes(data))
        how = "16 bytes flipped"
    strike.notes["file"] = f"{target.relative_to(strike.run)} ({how})"
    strike.search.kill()


def _small_fs(work: Path, rng: random.Random, size: int) -> AbstractContextManager[Place]:
    """Room for a random 30-80 % of what the reference run wrote: the disk fills at a random point of the run."""
    return environments.small_fs(work, int(size * rng.uniform(0.3, 0.8)))


def _wait_for_full_disk(strike: Strike) -> None:
    strike.notes["size_mb"] = round(os.statvfs(strike.place.mount).f_blocks * os.statvfs(
        strike.place.mount).f_frsize / 2**20, 1)


def _grow_disk(strike: Strike) -> None:
    assert strike.place.mount is not None
    environments.grow(strike.place.mount, 8 * 2**30)


def _postgres(work: Path, rng: random.Random, size: int) -> AbstractContextManager[Place]:
    return environments.postgres(work)


def _restart_postgres(strike: Strike) -> None:
    strike.notes["restart_s"] = round(environments.restart_postgres(), 1)


def _object_store(work: Path, rng: random.Random, size: int) -> AbstractContextManager[Place]:
    return environments.object_store(work)


def _pause_object_store(strike: Strike) -> None:
    """The S3 server stops answering (SIGSTOP: connections hang, as behind a network partition) for 3-10 s."""
    assert strike.place.pid is not None
    seconds = round(strike.rng.uniform(3, 10), 1)
    os.kill(strike.place.pid, signal.SIGSTOP)
    time.sleep(seconds)
    os.kill(strike.place.pid, signal.SIGCONT)
    strike.notes["paused_s"] = seconds


def _cluster(work: Path, rng: random.Random, size: int) -> AbstractContextManager[Place]:
    return environments.cluster(work)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _train_worker_nodes(strike: Strike) -> dict[str, list[int]]:
    """Node id -> the `ray::RayTrainWorker` processes its raylet started, for the cluster's worker nodes only (a
    worker process is the raylet's child; other Rays on this machine are never matched)."""
    assert strike.place.cluster is not None
    raylets = {node.all_processes["raylet"][0].process.pid: node.node_id
               for node in strike.place.cluster.worker_nodes if node.all_processes.get("raylet")}
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(b"ray::RayTrainWorker"):
                node_id = raylets.get(_parent(int(entry.name)))
                if node_id is not None:
                    found.setdefault(node_id, []).append(int(entry.name))
    return found


def _remove_train_node(strike: Strike) -> None:
    """The node hosting the trial's Train workers removed without warning (`remove_node(allow_graceful=False)`,
    like a reclaimed spot instance), then a node like it added (the autoscaler's replacement)."""
    cluster = strike.place.cluster
    assert cluster is not None
    node_id = strike.rng.choice(sorted(_train_worker_nodes(strike)))
    strike.notes["trials"] = {trial_id: f"{s['status']} at step {s['step']}" for trial_id, s in
                              summaries(strike.run).items()}  # what the node's workers were doing
    (node,) = [node for node in cluster.worker_nodes if node.node_id == node_id]
    started = time.monotonic()
    cluster.remove_node(node, allow_graceful=False)
    strike.notes["removed"] = node_id[:8]
    strike.notes["remove_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    cluster.add_node(num_cpus=environments.WORKER_NODE_CPUS)
    strike.notes["replacement_s"] = round(time.monotonic() - started, 1)


FAULTS = {fault.name: fault for fault in [
    Fault("driver_kill", "`raytl search` SIGKILLed with its local Ray", _local, _anytime, _kill_driver),
    Fault("corrupt_file", "a phase or checkpoint file truncated or overwritten, then the driver killed", _local,
          lambda strike: bool(_damageable(strike.run)), _corrupt_then_crash, cheap=True),
    Fault("train_worker_kill", "one Ray Train worker process SIGKILLed", _local,
          lambda strike: bool(_train_workers(strike)), _kill_train_worker),
    Fault("postgres_restart", "the Optuna storage server (PostgreSQL) restarted", _postgres, _anytime,
          _restart_postgres),
    Fault("object_store_pause", "the S3 server (moto) unresponsive for 3-10 s", _object_store, _anytime,
          _pause_object_store),
    Fault("disk_full", "the run's file system (tmpfs) too small for the run", _small_fs, _anytime,
          _wait_for_full_disk, heal=_grow_disk),
    Fault("node_removed", "the worker node hosting the Train workers removed from a multi-node cluster", _cluster,
          lambda strike: bool(_train_worker_nodes(strike)), _remove_train_node),
]}
