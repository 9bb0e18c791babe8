"""The layout of a run directory, in one place, and where it lives: a local (or shared) path, or an object store.

    RUN_DIR/space.yaml                         the resolved search space the run uses
    RUN_DIR/tune/                              Ray Tune's experiment (restored by `raytl resume`)
    RUN_DIR/train/<trial_id>/                  each trial's Ray Train run (its checkpoints)
    RUN_DIR/phases/<phase_id>/                 published intermediate encoders (see `store.py`)
    RUN_DIR/optuna.db                          the Optuna study (SQLite, when no other storage is given)
    RUN_DIR/search.log                         the libraries' log of `raytl search`/`resume`/`rerun` (Ray,
                                               DeepSpeed, Optuna, transformers, Python warnings; the mirror only)
    RUN_DIR/trials/<trial_id>/summary.json     per-trial results, rewritten at every evaluation
    RUN_DIR/trials/<trial_id>/predictions/TASK/test-LANG.tsv   XTREME submission layout
    RUN_DIR/targets/<target>/                  a `search.mode: per_target` run: one such run directory per target

A run on s3:// or gs:// is the truth at its URI; every node works on a mirror of it in a local directory
(`RAYTL_MIRROR`, default ~/.cache/raytl/mirror, then scheme/bucket/path). Ray Tune and Ray Train write `tune/`
and `train/` to the URI themselves; the phase store publishes to it (see `store.py`); raytl's own files are
written through `write_text`/`write_json`, which write the mirror and upload. Commands that read a run first
`pull` its small files (summaries, predictions, manifests, Tune's state) into the mirror.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from raytl.pipeline import storage

if TYPE_CHECKING:
    from raytl.pipeline.store import PhaseStore

MIRROR_ENV = "RAYTL_MIRROR"
PULLED_FROM_TUNE = ("experiment_state-",)  # Tune's state files `raytl store` reads (plain JSON)


def mirror_of(uri: str) -> Path:
    """This machine's copy of a cloud run: the same path on every node of a cluster.

    >>> str(mirror_of("s3://bucket/runs/exp?region=eu-west-1")).endswith("/s3/bucket/runs/exp")
    True
    """
    parts = urlsplit(uri)
    base = Path(os.path.expanduser(os.environ.get(MIRROR_ENV, "~/.cache/raytl/mirror")))
    return base / parts.scheme / parts.netloc / parts.path.strip("/")


@dataclass(frozen=True)
class RunDir:
    """A run, at `location` (a path, a file:// URI, or an s3:// / gs:// URI). `store_of` is the run whose phase
    store this one shares (the per-target studies of one run share its store)."""

    location: str | Path
    store_of: RunDir | None = None

    def __post_init__(self) -> None:
        location = str(self.location)
        location = storage.resolve(location)[1] if storage.is_local(location) else storage.join(location)
        object.__setattr__(self, "location", location)

    @classmethod
    def of(cls, parent: str, name: str) -> RunDir:
        """The run directory of a search named `name` under `parent` (a path or a URI)."""
        return cls(storage.join(parent, name))

    @property
    def remote(self) -> bool:
        return not storage.is_local(str(self.location))

    @property
    def root(self) -> Path:
        """Where this machine reads and writes the run: the run itself, or its local mirror."""
        return mirror_of(str(self.location)) if self.remote else Path(self.location)

    def uri(self, path: Path | str) -> str:
        """The location of a path under `root` (e.g. `run.uri(run.train)`), as Ray and pyarrow take it."""
        relative = Path(path).relative_to(self.root)
        return str(self.location) if relative == Path(".") else storage.join(str(self.location), relative.as_posix())

    @property
    def space(self) -> Path:
        return self.root / "space.yaml"

    @property
    def tune(self) -> Path:
        return self.root / "tune"

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def targets(self) -> Path:
        """The per-target run directories of a `search.mode: per_target` run (absent in any other run)."""
        return self.root / "targets"

    @property
    def phases(self) -> Path:
        return (self.store_of or self).root / "phases"

    @property
    def phases_location(self) -> str:
        owner = self.store_of or self
        return owner.uri(owner.phases)

    def phase_store(self) -> PhaseStore:
        from raytl.pipeline.store import PhaseStore

        return PhaseStore(self.phases_location, cache=self.phases)

    @property
    def optuna_db(self) -> Path:
        return self.root / "optuna.db"

    @property
    def log(self) -> Path:
        return self.root / "search.log"

    def trial(self, trial_id: str) -> Path:
        return self.root / "trials" / trial_id

    def summary(self, trial_id: str) -> Path:
        return self.trial(trial_id) / "summary.json"

    def predictions(self, trial_id: str) -> Path:
        return self.trial(trial_id) / "predictions"

    def exists(self, path: Path) -> bool:
        """True if `path` (under root) exists at the run's location."""
        return storage.exists(self.uri(path)) if self.remote else path.exists()

    def write_text(self, path: Path, text: str) -> None:
        """Write a file of the run (readers see the old or the new content), uploaded when the run is remote."""
        write_atomic(path, text)
        if self.remote:
            storage.write_bytes(self.uri(path), text.encode())

    def write_json(self, path: Path, value: Any) -> None:
        self.write_text(path, _json(value))

    def read_json(self, path: Path) -> Any | None:
        """A JSON file of the run as its location holds it now (not a possibly stale mirror); None if absent."""
        try:
            raw = storage.read_bytes(self.uri(path)) if self.remote else path.read_bytes()
        except FileNotFoundError:
            return None
        return json.loads(raw)

    def push(self, path: Path) -> None:
        """Upload a file (or directory) of the mirror to the run's location; nothing to do for a local run."""
        if self.remote and path.exists():
            if path.is_dir():
                storage.upload_dir(str(path), self.uri(path))
            else:
                storage.write_bytes(self.uri(path), path.read_bytes())

    def pull(self) -> None:
        """Bring a remote run's small files into the mirror: everything except checkpoints (`train/`), Tune's
        trial directories and weights (phases, trials' `best/`), which commands that need them fetch themselves."""
        if not self.remote:
            return
        for relative in storage.list_files(str(self.location)):
            if _pulled(relative):
                target = self.root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(storage.read_bytes(storage.join(str(self.location), relative)))


def _pulled(relative: str) -> bool:
    parts = relative.split("/")
    if parts[0] == "targets" and len(parts) > 2:  # a per-target run: each target's study is a run directory
        parts = parts[2:]
    if parts[0] == "train":
        return False
    if parts[0] == "tune":
        return len(parts) == 2 and parts[1].startswith(PULLED_FROM_TUNE)
    if parts[0] == "trials" and len(parts) > 2 and parts[2] == "best":
        return False
    return "phases" not in parts or parts[-1].endswith(".json")  # not weights; manifests and records are JSON


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:  # a full disk, say: the old file stays as it was and no half-written copy is left
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, _json(value))


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"
