"""Fault tolerance on a multi-node Ray cluster on one machine (`ray.cluster_utils.Cluster`): a head with no CPUs and
the `trial_driver` resource (like clusters/*.yaml), worker nodes with CPUs, and `raytl search` joining it through
RAY_ADDRESS. A worker node removed mid-phase and a Ray Train worker process killed mid-phase: the trial restarts
from its last checkpoint, loses at most one checkpoint interval, and ends with exactly the weights of an
uninterrupted run (same data order, optimizer, schedule and dropout). The uninterrupted reference also checks the
wall-clock checkpoint cadence (`target.checkpoint_minutes`).

Measured figures are printed as `FT-MEASURE {...}` (run with -s) and quoted in docs/readme/fault_tolerance.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import ray
import torch
from ray.cluster_utils import Cluster

from raytl.pipeline.run_dir import RunDir
from raytl.search.trial_driver import DRIVER_RESOURCE
from raytl.training.engine import CHECKPOINT_TAG
from tests.conftest import tiny_space, write_space

pytestmark = pytest.mark.slow

EVAL_EVERY, MAX_STEPS, NUM_WORKERS = 4, 16, 2
TRIAL_TIMEOUT_S = 300
RAYTL = Path(sys.executable).with_name("raytl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Head: 0 CPUs + trial_driver (drivers never land on a node that can disappear); two 2-CPU worker nodes.
    Its own RAY_TMPDIR, so no other `ray.init()` on this machine attaches to it."""
    tmp = tempfile.mkdtemp(prefix="rtl-ft-", dir="/tmp")  # short: Ray's unix socket paths live under it
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", tmp)
        patch.delenv("RAY_ADDRESS", raising=False)
        nodes = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "resources": {DRIVER_RESOURCE: 1000}, "gcs_server_port": free_port(),
            "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": free_port(),
        })
        try:
            for _ in range(2):
                nodes.add_node(num_cpus=2)
            nodes.wait_for_nodes()
            ray.init(address=nodes.address, log_to_driver=False)  # this test's own connection, for the State API
            yield nodes
        finally:
            ray.shutdown()
            nodes.shutdown()
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Search:
    """One `raytl search` process of a one-trial search, and the checkpoints it has committed so far."""

    run: RunDir
    process: subprocess.Popen
    log: Path
    seen: dict[str, int] = field(default_factory=dict)  # registered checkpoint directory -> its reported step

    def poll(self) -> int:
        """Record the checkpoints Ray Train has registered (what a retry resumes from, unlike a directory that is
        uploaded but not yet registered); the highest step among them, 0 for none."""
        for snapshot in self.run.train.glob("*/checkpoint_manager_snapshot.json"):
            try:
                results = json.loads(snapshot.read_text())["checkpoint_results"]
            except (OSError, ValueError, KeyError):  # being rewritten
                continue
            self.seen.update({r["checkpoint_dir_name"]: r["metrics"]["step"] for r in results})
        return max(self.seen.values(), default=0)

    def wait_until(self, condition: Callable[[], bool], what: str, every: float = 0.2) -> None:
        """Poll (checkpoints, then `condition()`) until it holds; fails if the search ends first."""
        start = time.monotonic()
        while not condition():
            assert self.process.poll() is None, f"search ended before {what}:\n{self.tail()}"
            assert time.monotonic() - start < TRIAL_TIMEOUT_S, f"timed out waiting for {what}:\n{self.tail()}"
            time.sleep(every)
            self.poll()

    def finish(self) -> dict[str, Any]:
        """Wait for the search to exit successfully; the trial's summary.json."""
        assert self.process.wait(timeout=TRIAL_TIMEOUT_S) == 0, self.tail()
        self.poll()
        (summary,) = self.run.root.glob("trials/*/summary.json")
        return json.loads(summary.read_text())

    def tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-40:])


def start_search(tmp_path: Path, cluster: Cluster, name: str, **target: Any) -> Search:
    """`raytl search` of one tiny trial (lr fixed), joining the cluster through RAY_ADDRESS, in the background."""
    phase = {"lr": {"low": 2e-3, "high": 2e-3}, "max_steps": MAX_STEPS, "batch_size": 16, "max_length": 48,
             "eval_every": EVAL_EVERY, **target}
    space = tiny_space(tmp_path / "runs", name=name, intermediate_tasks=["none"], target=phase, search={
        "num_trials": 1, "max_failures": 2,
        "points_to_evaluate": [{"model": "tiny", "intermediate": "none", "lr_target": 2e-3}]})
    path = write_space(tmp_path / f"{name}.yaml", space)
    log = tmp_path / f"{name}.log"
    # every 'node' is this machine, so the run directory is a shared mount: declared as one would declare NFS
    env = {**os.environ, "RAY_ADDRESS": cluster.address, "RAYTL_SHARED_FS": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        process = subprocess.Popen([str(RAYTL), "search", str(path)], stdout=out, stderr=subprocess.STDOUT, env=env)
    return Search(RunDir(tmp_path / "runs" / name), process, log)


def final_weights(run: RunDir) -> dict[str, torch.Tensor]:
    """The model weights in the trial's last checkpoint (the one at MAX_STEPS)."""
    for progress in run.train.glob("*/checkpoint_*/progress.json"):
        if json.loads(progress.read_text())["step"] == MAX_STEPS:
            states = progress.parent / CHECKPOINT_TAG / "mp_rank_00_model_states.pt"
            return torch.load(states, map_location="cpu", weights_only=False)["module"]
    raise AssertionError(f"no checkpoint at step {MAX_STEPS} in {run.train}")


def reported_steps(run: RunDir) -> list[int]:
    """The `step` of every result Tune recorded for the trial, in order (all attempts)."""
    (results,) = run.tune.glob("*/result.json")
    return [json.loads(line)["step"] for line in results.read_text().splitlines() if line.strip()]


def train_workers() -> list[Any]:
    from ray.util.state import list_actors

    return list_actors(filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])


@pytest.fixture(scope="module")
def reference(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Search:
    """An uninterrupted run, with a wall-clock cadence so short that every step is also checkpointed."""
    search = start_search(tmp_path_factory.mktemp("reference"), cluster, "reference", eval_every=MAX_STEPS,
                          checkpoint_minutes=1e-4)
    started = time.monotonic()
    search.finish()
    print("FT-MEASURE", json.dumps({"case": "uninterrupted", "wall_s": round(time.monotonic() - started, 1)}))
    return search


def test_wall_clock_cadence_checkpoints_between_step_evaluations(reference: Search) -> None:
    # eval_every equals max_steps: only `checkpoint_minutes` can make the steps before it report and checkpoint
    assert reported_steps(reference.run) == list(range(1, MAX_STEPS + 1))
    # the checkpoints kept (num_to_keep=2) hold weights at 15 and 16: step 15 only the wall clock could checkpoint
    assert sorted(reference.seen.values()) == [MAX_STEPS - 1, MAX_STEPS]


def interrupted(search: Search, inject: Callable[[list[Any]], None], case: str, reference: Search) -> None:
    """Inject a failure into the trial's Train workers right after its first checkpoint (the rest of the phase takes
    about a second here), then check recovery, steps lost and exactness against the uninterrupted reference."""
    workers: list[Any] = []

    def workers_up() -> bool:
        workers[:] = train_workers()  # looked up before training starts, so the failure can follow a checkpoint fast
        return len(workers) == NUM_WORKERS

    search.wait_until(workers_up, "the trial's Train workers", every=0.5)
    old_pids = {actor.pid for actor in workers}
    search.wait_until(lambda: search.poll() >= EVAL_EVERY, "the first checkpoint", every=0.02)
    failed_at = time.monotonic()
    inject(workers)
    committed = search.poll()  # checkpoints registered before the failure: dead workers register nothing more
    assert 0 < committed < MAX_STEPS, "the failure must hit mid-phase"
    search.wait_until(lambda: bool({a.pid for a in train_workers()} - old_pids), "new Train workers")
    restart_s = time.monotonic() - failed_at
    search.wait_until(lambda: search.poll() > committed, "a checkpoint after the restart")
    recovery_s = time.monotonic() - failed_at
    summary = search.finish()

    assert summary["status"] == "completed" and summary["step"] == MAX_STEPS, summary
    (resumed_from,) = summary["resumed_at"]
    assert resumed_from == committed, "the retry must start from the last checkpoint committed before the failure"
    # progress at the failure was below the next checkpoint (not committed), so at most EVAL_EVERY steps are redone
    assert reported_steps(search.run)[-1] == MAX_STEPS
    assert sorted(set(reported_steps(search.run))) == list(range(EVAL_EVERY, MAX_STEPS + 1, EVAL_EVERY))
    expected, got = final_weights(reference.run), final_weights(search.run)
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), f"{name}: resumed training diverged from the uninterrupted run"
    print("FT-MEASURE", json.dumps({
        "case": case, "checkpoint_before_failure": committed, "resumed_from": resumed_from,
        "reported_steps": reported_steps(search.run), "restart_s": round(restart_s, 1),
        "failure_to_next_checkpoint_s": round(recovery_s, 1)}))


def test_node_removed_mid_phase_resumes_on_another_node(cluster: Cluster, reference: Search, tmp_path: Path) -> None:
    search = start_search(tmp_path, cluster, "node_loss")
    removed: list[str] = []

    def remove_the_workers_node(workers: list[Any]) -> None:
        (node_id,) = {actor.node_id for actor in workers}  # PACK: both workers on one node
        (node,) = [n for n in cluster.worker_nodes if n.node_id == node_id]
        cluster.remove_node(node, allow_graceful=False)  # like a reclaimed spot instance
        cluster.add_node(num_cpus=2)  # the autoscaler's replacement
        removed.append(node_id)

    interrupted(search, remove_the_workers_node, "node removed", reference)
    alive = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    assert removed and removed[0] not in alive, "the trial finished on another node"


def test_train_worker_killed_mid_phase_resumes(cluster: Cluster, reference: Search, tmp_path: Path) -> None:
    search = start_search(tmp_path, cluster, "worker_kill")

    def kill_one_worker(workers: list[Any]) -> None:
        os.kill(workers[-1].pid, signal.SIGKILL)  # a Ray Train worker process, found through Ray's State API

    interrupted(search, kill_one_worker, "Train worker killed", reference)
