"""The phase store: an intermediate encoder is trained once per run and reused by every trial that needs it.

A phase is published as a Hugging Face model directory (safetensors) plus `manifest.json` with checksums. The
first trial to ask takes a lease (created exclusively, kept alive by a heartbeat, breakable once stale, so a
crashed owner does not block the run), builds, writes into a temporary directory, verifies it, then renames it
into place: readers never see a half-written phase. A published phase that fails its checksums is moved aside and
rebuilt, never loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytl.pipeline.run_dir import write_json

MANIFEST = "manifest.json"
BUILD_LOG = "builds.jsonl"
REUSE_LOG = "reuses.jsonl"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class PhaseStore:
    """Published phases under `root`; `lease_seconds` is how long a silent owner keeps its claim."""

    root: Path
    lease_seconds: float = 300.0
    poll_seconds: float = 2.0

    def path(self, phase_id: str) -> Path:
        return self.root / phase_id

    def verified(self, phase_id: str) -> Path | None:
        """The phase's directory if published and intact; a corrupted one is moved aside (and rebuilt later)."""
        directory = self.path(phase_id)
        manifest = directory / MANIFEST
        if not manifest.is_file():
            return None
        try:
            files = json.loads(manifest.read_text())["files"]
            intact = all(sha256_file(directory / name) == digest for name, digest in files.items())
        except (OSError, ValueError, KeyError):
            intact = False
        if intact:
            return directory
        quarantine = directory.with_name(f".corrupt-{phase_id}-{uuid.uuid4().hex[:8]}")
        os.replace(directory, quarantine)
        return None

    def publish(self, phase_id: str, write: Callable[[Path], None], meta: dict[str, Any]) -> Path:
        """Write a phase through `write(tmp_dir)`, checksum it, verify, then rename it into place atomically."""
        tmp = self.root / f".tmp-{phase_id}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        write(tmp)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        write_json(tmp / MANIFEST, {"phase_id": phase_id, "files": files, **meta})
        target = self.path(phase_id)
        if target.exists():  # a stale copy that failed verification after our check
            shutil.rmtree(target)
        os.replace(tmp, target)
        if self.verified(phase_id) is None:
            raise RuntimeError(f"phase {phase_id} failed verification right after publishing")
        with open(self.root / BUILD_LOG, "a") as log:
            log.write(json.dumps({"phase_id": phase_id, "time": time.time(), **meta}) + "\n")
        return target

    def builds(self) -> list[dict[str, Any]]:
        """Every build this store has published (one line per training actually run)."""
        return self._read_log(BUILD_LOG)

    def record_reuse(self, phase_id: str, trial_id: str, waited_s: float) -> None:
        """A trial loaded a phase instead of training it (after waiting `waited_s` for its builder)."""
        with open(self.root / REUSE_LOG, "a") as log:
            log.write(json.dumps({"phase_id": phase_id, "trial_id": trial_id, "waited_s": waited_s}) + "\n")

    def reuses(self) -> list[dict[str, Any]]:
        return self._read_log(REUSE_LOG)

    def _read_log(self, name: str) -> list[dict[str, Any]]:
        log = self.root / name
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def poll_wait(self) -> None:
        time.sleep(self.poll_seconds)

    def try_lease(self, phase_id: str, owner: str) -> bool:
        """Claim the right to build; breaks a lease whose owner stopped heartbeating."""
        self.root.mkdir(parents=True, exist_ok=True)
        lease = self.root / f"{phase_id}.lease"
        try:
            fd = os.open(lease, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                stale = time.time() - lease.stat().st_mtime > self.lease_seconds
            except FileNotFoundError:
                return False
            if stale:
                # rename is atomic: of several waiters breaking the same stale lease, one succeeds
                with contextlib.suppress(FileNotFoundError):
                    os.replace(lease, lease.with_name(f".broken-{uuid.uuid4().hex[:8]}"))
            return False
        with os.fdopen(fd, "w") as handle:
            handle.write(owner)
        return True

    @contextmanager
    def heartbeat(self, phase_id: str):
        """Keep the lease fresh while building; release it afterwards, whatever happens."""
        lease = self.root / f"{phase_id}.lease"
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.lease_seconds / 4):
                with contextlib.suppress(FileNotFoundError):
                    os.utime(lease)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            with contextlib.suppress(FileNotFoundError):
                lease.unlink()
