"""The phase store: an intermediate encoder is trained once per run and reused by every trial that needs it.

A phase is published as a Hugging Face model directory (safetensors) plus `manifest.json` with checksums, at the
store's location: a directory (local or a shared mount) or a prefix on s3:// / gs://. The first trial to ask takes
the phase's lease (see `leases.py`: created atomically, kept alive by a heartbeat, breakable once stale, so
a crashed owner does not block the run), builds into a local staging directory, checksums it, then publishes:

- in a directory, by renaming the staging directory into place (atomic): readers see all of it or nothing;
- on an object store, by uploading the files and then the manifest, last: a phase without a manifest is not
  published, and objects are visible only once complete.

A reader verifies every file against the manifest before using it (on an object store, after downloading it into
this node's cache). A published phase that fails its checksums is discarded (a local one moved aside as
`.corrupt-*`) and rebuilt, never loaded. Every build and every reuse is one small JSON record under `builds/`
and `reuses/`, so `raytl store` and the benchmarks can count them on any storage.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytl.pipeline import storage
from raytl.pipeline.leases import Lease, held, lease_for
from raytl.training.checkpoint_files import sha256_file

MANIFEST = "manifest.json"
RECORDS = ("builds", "reuses")  # directories of one JSON record per build / per reuse, beside the phases


def intact(directory: Path) -> bool:
    """Every file the manifest lists is there with its checksum."""
    try:
        files = json.loads((directory / MANIFEST).read_text())["files"]
        return all(sha256_file(directory / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


@dataclass(frozen=True)
class PhaseStore:
    """Published phases at `location`; `cache` is this node's copy of them (for a directory store: the store
    itself). `lease_seconds` is how long a silent owner keeps its claim."""

    location: str | Path
    cache: Path | None = None
    lease_seconds: float = 300.0
    poll_seconds: float = 2.0
    _leases: dict[str, Lease] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        location = str(self.location)
        if storage.is_local(location):
            location = storage.resolve(location)[1]
            object.__setattr__(self, "cache", Path(location))
        elif self.cache is None:
            raise ValueError(f"a phase store on {location} needs a local cache directory")
        object.__setattr__(self, "location", location)

    @property
    def remote(self) -> bool:
        return not storage.is_local(str(self.location))

    @property
    def root(self) -> Path:
        assert self.cache is not None
        return self.cache

    def uri(self, *parts: str) -> str:
        return storage.join(str(self.location), *parts)

    def path(self, phase_id: str) -> Path:
        """Where the phase's files are on this node once `verified` or `publish` returned."""
        return self.root / phase_id

    def verified(self, phase_id: str) -> Path | None:
        """The phase's local directory if published and intact; a corrupted one is discarded (rebuilt later)."""
        directory = self.path(phase_id)
        if not self.remote:
            if not (directory / MANIFEST).is_file():
                return None
            if intact(directory):
                return directory
            with contextlib.suppress(FileNotFoundError):  # another reader moved it aside first
                os.replace(directory, directory.with_name(f".corrupt-{phase_id}-{uuid.uuid4().hex[:8]}"))
            return None
        try:
            manifest = storage.read_bytes(self.uri(phase_id, MANIFEST))
        except FileNotFoundError:
            return None
        if (directory / MANIFEST).is_file() and (directory / MANIFEST).read_bytes() == manifest and intact(directory):
            return directory
        download = self._staging(phase_id)
        storage.download_dir(self.uri(phase_id), str(download))
        if not intact(download):
            shutil.rmtree(download)
            storage.delete_dir(self.uri(phase_id))
            return None
        _replace_dir(download, directory)
        return directory

    def publish(self, phase_id: str, write: Callable[[Path], None], meta: dict[str, Any]) -> Path:
        """Write a phase through `write(staging_dir)`, checksum it, then publish it (see the module docstring)."""
        staging = self._staging(phase_id)
        try:
            write(staging)
            written = sorted(p for p in staging.iterdir() if p.is_file())
            files = {p.name: sha256_file(p) for p in written}
            sizes = {p.name: p.stat().st_size for p in written}
            manifest = json.dumps({"phase_id": phase_id, "files": files, "sizes": sizes, **meta}, indent=2,
                                  sort_keys=True) + "\n"
            if self.remote:
                storage.delete_dir(self.uri(phase_id))  # a copy that failed verification after our check
                storage.upload_dir(str(staging), self.uri(phase_id))
                storage.write_bytes(self.uri(phase_id, MANIFEST), manifest.encode())
            (staging / MANIFEST).write_text(manifest)
            _replace_dir(staging, self.path(phase_id))
        except BaseException:  # a full disk, say: nothing half-written is left beside the published phases
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if self.verified(phase_id) is None:
            raise RuntimeError(f"phase {phase_id} failed verification right after publishing")
        self._record("builds", phase_id, {"phase_id": phase_id, "time": time.time(), **meta})
        return self.path(phase_id)

    def _staging(self, phase_id: str) -> Path:
        staging = self.root / f".tmp-{phase_id}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        return staging

    def builds(self) -> list[dict[str, Any]]:
        """Every build this store has published (one record per training actually run), oldest first."""
        return self._records("builds")

    def record_reuse(self, phase_id: str, trial_id: str, waited_s: float) -> None:
        """A trial loaded a phase instead of training it (after waiting `waited_s` for its builder)."""
        self._record("reuses", phase_id, {"phase_id": phase_id, "trial_id": trial_id, "waited_s": waited_s,
                                          "time": time.time()})

    def reuses(self) -> list[dict[str, Any]]:
        return self._records("reuses")

    def _record(self, kind: str, phase_id: str, record: dict[str, Any]) -> None:
        name = f"{time.time_ns()}-{phase_id}-{uuid.uuid4().hex[:8]}.json"
        storage.write_bytes(self.uri(kind, name), json.dumps(record).encode())

    def _records(self, kind: str) -> list[dict[str, Any]]:
        names = storage.listdir(self.uri(kind))
        return [json.loads(storage.read_bytes(self.uri(kind, name))) for name in names if name.endswith(".json")]

    def poll_wait(self) -> None:
        time.sleep(self.poll_seconds)

    def lease_location(self, phase_id: str) -> str:
        return self.uri(f"{phase_id}.lease")

    def try_lease(self, phase_id: str, owner: str) -> bool:
        """Claim the right to build; a lease whose owner stopped heartbeating is broken (see `leases.py`)."""
        if not self.remote:
            self.root.mkdir(parents=True, exist_ok=True)
        lease = lease_for(self.lease_location(phase_id), self.lease_seconds)
        if lease.acquire(owner):
            self._leases[phase_id] = lease
            return True
        return False

    @contextmanager
    def heartbeat(self, phase_id: str) -> Iterator[None]:
        """Keep the lease `try_lease` took fresh while building; release it afterwards, whatever happens."""
        with held(self._leases.pop(phase_id), self.lease_seconds):
            yield


def _replace_dir(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    os.replace(source, target)
