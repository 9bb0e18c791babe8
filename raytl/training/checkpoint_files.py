"""Checksums of a checkpoint's files, so a damaged checkpoint is never resumed from.

Every rank writes its own files of a checkpoint (its DeepSpeed shard, its random state, ...) into a directory of its
own, which Ray Train then merges into the checkpoint; each rank lists its files with their SHA-256 in
`checksums-rank<N>.json`, written last. A checkpoint is `intact` when every rank's list is there and every file
matches. A checkpoint written before checksums existed (no list at all) is trusted as before.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

PREFIX = "checksums-rank"


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (checkpoints and published phases)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(directory: Path, rank: int) -> None:
    """List every file this rank wrote into `directory` (its own staging directory) with its checksum."""
    files = {str(p.relative_to(directory)): sha256_file(p) for p in sorted(directory.rglob("*")) if p.is_file()
             and not p.name.startswith(PREFIX)}
    (directory / f"{PREFIX}{rank}.json").write_text(json.dumps(files, indent=1, sort_keys=True))


def intact(directory: Path, world_size: int, required: bool = False) -> bool:
    """Every rank's files are there with their checksums (or, unless `required`, the checkpoint predates them).

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "w.pt").write_bytes(b"weights")
    >>> write_checksums(d, 0); intact(d, 1)
    True
    >>> _ = (d / "w.pt").write_bytes(b"weig"); intact(d, 1)
    False
    """
    lists = sorted(directory.glob(f"{PREFIX}*.json"))
    if not lists:
        return not required
    if len(lists) != world_size:
        return False
    try:
        for listing in lists:
            for name, digest in json.loads(listing.read_text()).items():
                if sha256_file(directory / name) != digest:
                    return False
    except (OSError, ValueError, AttributeError):
        return False
    return True
