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
from raytl.training.distributed import Ranks

LATEST, START = "latest", "start"
SNAPSHOT = "checkpoint_manager_snapshot.json"  # Ray Train's record of the checkpoints it registered


def resume_point(ranks: Ranks, own: Path | None) -> Path | None:
    """The checkpoint directory this rank resumes from, or None to start the trial from the beginning. `own`: the
    trial's Train directory (RUN_DIR/train/<trial id>) on a local or shared file system, where a trial Ray Train
    registered no checkpoint for still finds its newest intact one (its record was moved aside, see
    `quarantine_unregistered`)."""
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        choice = choose(None, own, ranks.world) if ranks.is_main and own is not None and own.is_dir() else START
        choice = ranks.broadcast(choice)
        return None if choice == START else Path(choice)
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


def choose(latest: Path | None, siblings: Path | None, world: int) -> str:
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
    if latest is not None and intact(latest, world):
        return LATEST
    # an earlier one counts only with its checksums: a directory left half-uploaded may lack them
    if siblings is not None:
        for candidate in sorted(siblings.glob("checkpoint_*"), reverse=True):
            if candidate.is_dir() and candidate != latest and intact(candidate, world, required=True):
                return str(candidate)
    return START


def quarantine_unregistered(train: Path, world: int) -> list[Path]:
    """Move aside (as `.corrupt-NAME`) every checkpoint directory under `train` (RUN_DIR/train, local or shared)
    that Ray Train never registered and whose files do not all match their checksums: what a crash or a full disk
    left half-uploaded. Never read by a resume, but a run must hold no half-written file. A registration record
    (`checkpoint_manager_snapshot.json`) that cannot be read goes aside too: Ray Train writes it in place, a full
    disk left it empty, and Ray Train then failed the trial on every retry (found by bench chaos); without it the
    trial resumes from its newest intact checkpoint (`resume_point`). Returns what moved.
    Call it only while no trial of the run is live (`raytl resume`, before Tune starts)."""
    moved = []
    for trial in sorted(p for p in train.glob("*") if p.is_dir()) if train.is_dir() else []:
        snapshot = trial / SNAPSHOT
        try:
            registered = {r["checkpoint_dir_name"] for r in json.loads(snapshot.read_text())["checkpoint_results"]}
        except FileNotFoundError:
            registered = set()
        except (OSError, ValueError, KeyError, TypeError):
            os.replace(snapshot, snapshot.with_name(f".corrupt-{SNAPSHOT}"))
            moved.append(snapshot.with_name(f".corrupt-{SNAPSHOT}"))
            registered = set()
        for checkpoint in sorted(p for p in trial.glob("checkpoint_*") if p.is_dir()):
            if checkpoint.name not in registered and not intact(checkpoint, world, required=True):
                target = checkpoint.with_name(f".corrupt-{checkpoint.name}")
                os.replace(checkpoint, target)
                moved.append(target)
    return moved
