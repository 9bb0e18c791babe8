"""Tune's record of a search in its run directory (RUN_DIR/tune), checked before `raytl resume` restores it.

Tune writes its experiment state in Ray's session directory, then copies it into the run directory, in place. A
full disk (or a crash) in the middle of that copy left a truncated `experiment_state-*.json` (found by bench chaos
`disk_full`): Tune's restore failed on it, started the experiment over and silently dropped the trials it had
run. Before a resume each state file is read back; a damaged one is replaced, together with the files saved with
it, by the intact copy Tune left in Ray's session directory (`$RAY_TMPDIR/ray/session_*/artifacts/*/<experiment>/
driver_artifacts`), and where there is none the resume stops with one line instead of losing trials.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import uuid
from pathlib import Path

from raytl.errors import InputError

STATE_FILES = ("experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl")


def readable(path: Path) -> bool:
    """Whether Tune can read it back: the experiment state is JSON, the search generator's and the searcher's
    states are pickles (the generator's despite its `.json` name)."""
    load = json.load if path.name.startswith("experiment_state-") else pickle.load
    try:
        with path.open("rb") as file:
            load(file)
    except Exception:  # noqa: BLE001 (any failure to read it back means Tune cannot restore from it)
        return False
    return True


def damaged(tune_dir: Path) -> list[Path]:
    """The state files under `tune_dir` that do not read back."""
    return [path for pattern in STATE_FILES for path in sorted(tune_dir.glob(pattern)) if not readable(path)]


def repair(tune_dir: Path, ray_tmp: Path | None = None) -> list[Path]:
    """Replace every damaged state file with Ray's intact session copy (and the files saved beside it, so the
    searcher matches the trials); returns the files replaced. InputError when a damaged file has no intact copy."""
    replaced: list[Path] = []
    ray_tmp = ray_tmp or Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray"
    for path in damaged(tune_dir):
        if path in replaced:
            continue
        copies = sorted(ray_tmp.glob(f"session_*/artifacts/*/{tune_dir.name}/driver_artifacts/{path.name}"),
                        key=lambda copy: copy.stat().st_mtime, reverse=True)
        source = next((copy for copy in copies if readable(copy)), None)
        if source is None:
            raise InputError(f"{path}: Tune's record of the search is damaged (a full disk or a crash cut its copy "
                             f"short) and Ray's session files under {ray_tmp} hold no intact copy; allowed: put an "
                             f"intact copy in its place, then `raytl resume` again")
        session = path.stem.split("-", 1)[1] if path.suffix == ".json" else path.stem.split("-", 2)[2]
        for pattern in STATE_FILES:
            for sibling in source.parent.glob(pattern.replace("*", session)):
                if readable(sibling):
                    _copy_atomic(sibling, tune_dir / sibling.name)
                    replaced.append(tune_dir / sibling.name)
    return replaced


def _copy_atomic(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)
