"""Every file of a run directory read back the way its reader would: is any left corrupt or half-written?

Checked: JSON (Tune's `result.json` line by line), YAML, TSV/text (UTF-8), safetensors (every tensor read),
PyTorch files (`torch.load`), the SQLite study (`PRAGMA integrity_check`), and each published phase against its
manifest. Half-written: a temporary file or staging directory left behind (`write_atomic`'s `.NAME.*`, the phase
store's `.tmp-*`). A phase moved aside as `.corrupt-*` was detected and is never read: quarantined, not counted.
Tune's searcher state (a pickle named .json) is unpickled; other files only Ray reads back (its other pickles,
TensorBoard events, markers) are not checked.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import yaml

from raytl.pipeline.store import MANIFEST, intact

RAY_DOTFILES = {".validate_storage_marker"}  # Ray's own hidden files; any other dotfile is a temporary left behind


def scan(root: Path) -> tuple[list[str], int]:
    """(problems, files checked): one line per corrupt or half-written file, relative to `root`."""
    problems, checked = [], 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part.startswith(".corrupt-") for part in relative.parts):
            continue
        if any(part.startswith(".tmp-") for part in relative.parts) or _atomic_leftover(path):
            problems.append(f"{relative}: half-written (temporary file left)")
            continue
        problem = _check(path)
        if problem is not None:
            checked += 1
            if problem:
                problems.append(f"{relative}: {problem}")
    for manifest in root.glob("phases/*/" + MANIFEST):
        if not manifest.parent.name.startswith(".corrupt-") and not intact(manifest.parent):
            problems.append(f"{manifest.parent.relative_to(root)}: fails its manifest's checksums")
    return problems, checked


def _atomic_leftover(path: Path) -> bool:
    """`write_atomic`'s temporary `.NAME.XXXXXXXX` (or any other hidden file but Ray's markers)."""
    return path.name.startswith(".") and path.name not in RAY_DOTFILES


def _check(path: Path) -> str | None:
    """'' when the file reads back, a reason when not, None when its kind is not checked."""
    name = path.name
    try:
        if name == "result.json" or name.endswith(".jsonl"):
            for line in path.read_text().splitlines():
                if line.strip():
                    json.loads(line)
        elif name.startswith("search_gen_state-"):  # Tune's searcher state: a pickle, despite its name
            pickle.loads(path.read_bytes())
        elif name.endswith(".json"):
            json.loads(path.read_text())
        elif name.endswith((".yaml", ".yml")):
            yaml.safe_load(path.read_text())
        elif name.endswith((".tsv", ".txt", ".csv")):
            path.read_bytes().decode("utf-8")
        elif name.endswith(".safetensors"):
            _read_safetensors(path)
        elif name.endswith((".pt", ".bin")):
            _read_torch(path)
        elif name.endswith(".db"):
            return _sqlite(path)
        else:
            return None
    except Exception as exc:  # what a reader would trip on, whatever it is
        return f"unreadable ({type(exc).__name__}: {str(exc)[:80]})"
    return ""


def _read_safetensors(path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
            handle.get_tensor(key)


def _read_torch(path: Path) -> None:
    import torch

    torch.load(path, map_location="cpu", weights_only=False)


def _sqlite(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        (verdict,) = connection.execute("PRAGMA integrity_check").fetchone()
    return "" if verdict == "ok" else f"sqlite integrity_check: {verdict[:80]}"
