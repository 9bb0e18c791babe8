"""Where a chaos run keeps its state: a local directory, a size-limited file system, a PostgreSQL server of the
benchmark's own, a local S3 server (moto) in a process of its own, or a multi-node Ray cluster on this machine.
Each is a context manager yielding a `Place` and leaves nothing behind. The servers and the cluster are the
benchmark's own (own ports, own data directory, Ray's files under the caller's RAY_TMPDIR), never the test
suite's, so restarting, pausing or shrinking them disturbs no one else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.chaos.search import REPO
from raytl.search.trial_driver import DRIVER_RESOURCE

if TYPE_CHECKING:
    from ray.cluster_utils import Cluster

PG_PORT, PG_DATA = "54339", "/var/tmp/raytl-chaos-postgres"  # apart from scripts/test.sh's server (54329)
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
          "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
          "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


@dataclass
class Place:
    """`storage`: the space's run parent (a path or a URI); `local`: where this machine sees the run's files
    (for an object store, the mirror); `env`: what every raytl process needs; `pid`: a server the fault may hit;
    `cluster`: the Ray cluster the search joins (a node is what the fault hits)."""

    storage: str
    local: Path
    env: dict[str, str] = field(default_factory=dict)
    study_storage: str | None = None
    pid: int | None = None
    mount: Path | None = None
    cluster: Cluster | None = None


@contextlib.contextmanager
def local_dir(work: Path) -> Iterator[Place]:
    yield Place(str(work / "runs"), work / "runs")


@contextlib.contextmanager
def small_fs(work: Path, size_bytes: int) -> Iterator[Place]:
    """A tmpfs of `size_bytes` (we are root; `mount -t tmpfs -o size=`) holding the run parent."""
    mount = work / "runs"
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(mount)], check=True)
    try:
        yield Place(str(mount), mount, mount=mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def grow(mount: Path, size_bytes: int) -> None:
    """The cause removed: the file system gets room (`mount -o remount,size=`), its files untouched."""
    subprocess.run(["mount", "-o", f"remount,size={size_bytes}", str(mount)], check=True)


def _pg_bin() -> Path:
    return Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1])


@contextlib.contextmanager
def postgres(work: Path) -> Iterator[Place]:
    """scripts/start_postgres.sh on the benchmark's own port and data directory; a fresh database per run."""
    env = {**os.environ, "RAYTL_PG_PORT": PG_PORT, "RAYTL_PG_DATA": PG_DATA}
    url = subprocess.run(["bash", str(REPO / "scripts" / "start_postgres.sh")], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    database = f"chaos_{uuid.uuid4().hex[:8]}"
    _psql(f"CREATE DATABASE {database} OWNER raytl")
    try:
        yield Place(str(work / "runs"), work / "runs", env={"PGPASSWORD": "raytl"},
                    study_storage=url.rsplit("/", 1)[0] + "/" + database)
    finally:
        _psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _psql(sql: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", str(_pg_bin() / "psql"), "-h", PG_DATA, "-p", PG_PORT,
                    "-U", "postgres", "-qAt", "-c", sql], check=True, capture_output=True)


def restart_postgres() -> float:
    """Restart the benchmark's server (`pg_ctl restart -m fast`: every connection is cut); seconds it took."""
    started = time.monotonic()
    subprocess.run(["runuser", "-u", "postgres", "--", str(_pg_bin() / "pg_ctl"), "-D", PG_DATA, "-l",
                    f"{PG_DATA}/server.log", "-w", "-t", "60", "-m", "fast", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {PG_PORT} -k {PG_DATA} -c fsync=off", "restart"],
                   check=True, capture_output=True)
    return time.monotonic() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def object_store(work: Path) -> Iterator[Place]:
    """moto's S3 server in a process of its own (so it can be paused), a bucket, and the run's mirror."""
    import boto3

    port = _free_port()
    log = (work / "moto.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **S3_ENV},
                              start_new_session=True)
    try:
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", **_boto_credentials())
        bucket = f"chaos-{uuid.uuid4().hex[:8]}"
        for _ in range(100):
            with contextlib.suppress(Exception):
                client.create_bucket(Bucket=bucket)
                break
            time.sleep(0.2)
        mirror = work / "mirror"
        storage = f"s3://{bucket}/runs?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
        yield Place(storage, mirror / "s3" / bucket / "runs", env={**S3_ENV, "RAYTL_MIRROR": str(mirror)},
                    pid=server.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGCONT)
            os.kill(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


WORKER_NODE_CPUS = 2


@contextlib.contextmanager
def cluster(work: Path) -> Iterator[Place]:
    """`ray.cluster_utils.Cluster` as in tests/test_fault_tolerance.py: a head with 0 CPUs and the `trial_driver`
    resource (trial drivers never land on a node that can go), two worker nodes with CPUs; the search joins it
    through RAY_ADDRESS. Every node is this machine, so the run directory is declared a shared mount
    (RAYTL_SHARED_FS), as one would declare NFS. Own GCS and dashboard ports, so no other Ray here is met."""
    from ray.cluster_utils import Cluster

    with _env({}, drop=("RAY_ADDRESS",)):
        nodes = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "resources": {DRIVER_RESOURCE: 1000}, "gcs_server_port": _free_port(),
            "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": _free_port()})
        try:
            for _ in range(2):
                nodes.add_node(num_cpus=WORKER_NODE_CPUS)
            nodes.wait_for_nodes()
            yield Place(str(work / "runs"), work / "runs",
                        env={"RAY_ADDRESS": nodes.address, "RAYTL_SHARED_FS": str(work)}, cluster=nodes)
        finally:
            nodes.shutdown()


def _boto_credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def download(uri: str, into: Path) -> Path:
    """The run's files as the object store holds them, for the integrity scan."""
    from raytl.pipeline import storage

    with _env(S3_ENV):
        storage.download_dir(uri, str(into))
    return into


@contextlib.contextmanager
def _env(values: dict[str, str], drop: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in [*values, *drop]}
    for key in drop:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
