"""Where a restarted trial continues: Ray Train's latest checkpoint when it is intact, else the newest intact
earlier checkpoint of the same trial (Ray Train keeps two), else the start of the trial.

A checkpoint damaged on disk (truncated by a crash, a bad disk, a full one) would otherwise fail every retry and
every `raytl resume` the same way (found by `python -m bench chaos`, fault `corrupt_file`). Rank 0 decides and
broadcasts, so every rank resumes from the same place. Earlier checkpoints are looked for on a local or shared
file system; a run on an object store whose latest checkpoint is damaged starts the trial over.
`raytl resume` also moves aside the checkpoint directories a crash left half-uploaded (`quarantine_unregistered`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.fs as pafs
import ray.train

from raytl.training.checkpoint_files import intact
from raytl.training.engine import Ranks

LATEST, START = "latest", "start"
SNAPSHOT = "checkpoint_manager_snapshot.json"  # Ray Train's record of the checkpoints it registered


def resume_point(ranks: Ranks) -> Path | None:
    """The checkpoint directory this rank resumes from, or None to start the trial from the beginning."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    directory = Path(checkpoint.to_directory())
    choice = None
    if ranks.is_main:
        local = isinstance(checkpoint.filesystem, pafs.LocalFileSystem)
        choice = choose(directory, Path(checkpoint.path).parent if local else None, ranks.world)
        if choice != LATEST:
            print(f"raytl: checkpoint {checkpoint.path} is damaged (fails its checksums); resuming from "
                  f"{choice if choice != START else 'the start of the trial'}", flush=True)
    choice = ranks.broadcast(choice)
    if choice == LATEST:
        return directory
    return None if choice == START else Path(choice)


def choose(latest: Path, siblings: Path | None, world: int) -> str:
    """LATEST when `latest` is intact, else the newest intact other `checkpoint_*` in `siblings` (its path), else
    START.

    >>> import tempfile; from raytl.training.checkpoint_files import write_checksums
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("checkpoint_1", "checkpoint_2"):
    ...     (root / name).mkdir(); _ = (root / name / "w.pt").write_bytes(b"weights"); write_checksums(root / name, 0)
    >>> choose(root / "checkpoint_2", root, 1)
    'latest'
    >>> _ = (root / "checkpoint_2" / "w.pt").write_bytes(b"wei"); choose(root / "checkpoint_2", root, 1)[-12:]
    'checkpoint_1'
    """
    if intact(latest, world):
        return LATEST
    # an earlier one counts only with its checksums: a directory left half-uploaded may lack them
    if siblings is not None:
        for candidate in sorted(siblings.glob("checkpoint_*"), reverse=True):
            if candidate.is_dir() and candidate.name != latest.name and intact(candidate, world, required=True):
                return str(candidate)
    return START


def quarantine_unregistered(train: Path, world: int) -> list[Path]:
    """Move aside (as `.corrupt-NAME`) every checkpoint directory under `train` (RUN_DIR/train, local or shared)
    that Ray Train never registered and whose files do not all match their checksums: what a crash or a full disk
    left half-uploaded. Never read by a resume, but a run must hold no half-written file. A trial whose
    registration record (`checkpoint_manager_snapshot.json`) cannot be read is left alone. Returns what moved.
    Call it only while no trial of the run is live (`raytl resume`, before Tune starts)."""
    moved = []
    for trial in sorted(p for p in train.glob("*") if p.is_dir()) if train.is_dir() else []:
        try:
            snapshot = json.loads((trial / SNAPSHOT).read_text())
            registered = {r["checkpoint_dir_name"] for r in snapshot["checkpoint_results"]}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for checkpoint in sorted(p for p in trial.glob("checkpoint_*") if p.is_dir()):
            if checkpoint.name not in registered and not intact(checkpoint, world, required=True):
                target = checkpoint.with_name(f".corrupt-{checkpoint.name}")
                os.replace(checkpoint, target)
                moved.append(target)
    return moved
