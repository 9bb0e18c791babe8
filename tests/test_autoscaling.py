"""Autoscaling: a search whose trial needs more than the head offers makes the autoscaler start worker nodes, and
they stop again once idle. Ray's fake-provider head (`RAY_FAKE_CLUSTER=1 ray start --head --autoscaling-config`)
starts "nodes" as local raylets, like clusters/*.yaml start instances: head with 0 CPUs + `trial_driver`, worker
type with 1 CPU, 0..2 nodes.

This cluster is ours alone: its own RAY_TMPDIR and ports, stopped by ending the `ray start --block` process and
the fake nodes' processes found by our temp dir (never `ray stop`, which would stop every cluster on the machine;
`ray.cluster_utils.AutoscalingCluster` runs `ray stop --force` and is not used).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import ray
import yaml

from raytl.search.trial_driver import DRIVER_RESOURCE
from tests.conftest import tiny_space, write_space
from tests.test_fault_tolerance import free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
IDLE_TIMEOUT_MINUTES = 0.1


def autoscaling_config(gcs_address: str) -> dict:
    """A fake-provider cluster config: the shape of clusters/aws.yaml with local 'instances'."""
    return {
        "cluster_name": "raytl-autoscaling-test",
        "max_workers": 2,
        "upscaling_speed": 2.0,
        "idle_timeout_minutes": IDLE_TIMEOUT_MINUTES,
        "provider": {"type": "fake_multinode", "gcs_address": gcs_address, "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True},
        "auth": {"ssh_user": "ubuntu"},
        "head_node_type": "ray.head.default",
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0, DRIVER_RESOURCE: 1000}, "node_config": {}, "max_workers": 0},
            "cpu_worker": {"resources": {"CPU": 1}, "node_config": {}, "min_workers": 0, "max_workers": 2},
        },
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [], "setup_commands": [],
        "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def processes_under(tmp: str) -> list[psutil.Process]:
    """Processes of our cluster: their command lines name its temp dir (raylets, GCS, agents, monitor)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(tmp in part for part in process.info["cmdline"] or []):
            found.append(process)
    return found


@pytest.fixture(scope="module")
def autoscaling_head() -> Iterator[str]:
    """The GCS address of a fake-provider autoscaling head that only this module uses."""
    tmp = tempfile.mkdtemp(prefix="rtl-as-", dir="/tmp")
    ip = ray.util.get_node_ip_address()
    address = f"{ip}:{free_port()}"
    config = Path(tmp) / "autoscaling.yaml"
    config.write_text(yaml.safe_dump(autoscaling_config(address)))
    env = {**os.environ, "RAY_TMPDIR": tmp, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    env.pop("RAY_ADDRESS", None)
    command = [str(BIN / "ray"), "start", "--head", "--block", f"--port={address.split(':')[1]}",
               "--num-cpus=0", f"--resources={json.dumps({DRIVER_RESOURCE: 1000})}", f"--autoscaling-config={config}",
               "--dashboard-host=127.0.0.1", f"--dashboard-port={free_port()}",
               f"--dashboard-agent-listen-port={free_port()}", f"--ray-client-server-port={free_port()}",
               "--min-worker-port=0", "--max-worker-port=0", "--disable-usage-stats"]
    log = Path(tmp) / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RAY_TMPDIR", tmp)
            _wait(lambda: "Ray runtime started" in log.read_text() or head.poll() is not None, 120, "the head")
            assert head.poll() is None, log.read_text()[-3000:]
            ray.init(address=address, log_to_driver=False)  # this test's own connection: it watches the nodes
            yield address
            ray.shutdown()
    finally:
        _stop(head, tmp)


def _stop(head: subprocess.Popen, tmp: str) -> None:
    ray.shutdown()
    head.send_signal(signal.SIGTERM)  # `ray start --block` stops the head's processes on SIGTERM
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()
    for process in processes_under(tmp):  # fake worker nodes the autoscaler started, if any are left
        process.terminate()
    psutil.wait_procs(processes_under(tmp), timeout=20)
    shutil.rmtree(tmp, ignore_errors=True)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.5)
    return time.monotonic() - start


def worker_nodes() -> int:
    """Alive nodes with CPUs (the head has none)."""
    return sum(1 for node in ray.nodes() if node["Alive"] and node["Resources"].get("CPU", 0) > 0)


def test_search_starts_worker_nodes_and_idle_ones_stop(autoscaling_head: str, tmp_path: Path) -> None:
    assert worker_nodes() == 0, "the cluster starts with the head only"
    space = tiny_space(tmp_path / "runs", name="autoscale", intermediate_tasks=["none"], search={
        "num_trials": 1, "max_failures": 0,
        "points_to_evaluate": [{"model": "tiny", "intermediate": "none", "lr_target": 2e-3}]})
    log = tmp_path / "search.log"
    env = {**os.environ, "RAY_ADDRESS": autoscaling_head, "RAYTL_SHARED_FS": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        search = subprocess.Popen([str(BIN / "raytl"), "search", str(write_space(tmp_path / "s.yaml", space))],
                                  stdout=out, stderr=subprocess.STDOUT, env=env)
    started = time.monotonic()
    peak, scale_up_s = 0, None
    while search.poll() is None:
        assert time.monotonic() - started < 400, f"search did not finish:\n{log.read_text()[-3000:]}"
        nodes = worker_nodes()
        if nodes > peak:
            peak = nodes
            scale_up_s = time.monotonic() - started
        time.sleep(0.5)
    assert search.returncode == 0, log.read_text()[-3000:]
    (summary,) = (tmp_path / "runs" / "autoscale").glob("trials/*/summary.json")
    assert json.loads(summary.read_text())["status"] == "completed"
    assert peak == 2, "two 1-CPU worker nodes for a trial of two 1-CPU Train workers"
    scale_down_s = _wait(lambda: worker_nodes() == 0, 180, "idle worker nodes to stop")
    print("FT-MEASURE", json.dumps({"case": "autoscaling", "nodes_up_s": round(scale_up_s or 0, 1),
                                    "search_s": round(time.monotonic() - started - scale_down_s, 1),
                                    "idle_nodes_stopped_after_s": round(scale_down_s, 1),
                                    "idle_timeout_s": IDLE_TIMEOUT_MINUTES * 60}))
