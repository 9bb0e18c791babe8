"""A full disk under the run (found by `python -m bench chaos`, fault `disk_full`): the search stops with one line
and exit status 2, and nothing half-written is left. Before, Tune retried the trial that could not write its
checkpoint, then Optuna's SQLite study failed to commit and `raytl search` died with exit 1 and a traceback
blaming "invalid data in the commit"."""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from raytl.errors import StorageFull, no_space
from raytl.pipeline import run_dir as run_dir_module
from raytl.pipeline.run_dir import write_atomic
from raytl.pipeline.store import PhaseStore
from raytl.search import storage_full


def _optuna_commit_error() -> optuna.exceptions.StorageInternalError:
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as exc:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from exc
    except optuna.exceptions.StorageInternalError as wrapped:
        return wrapped


def test_no_space_sees_through_wrapped_errors() -> None:
    assert no_space(_optuna_commit_error())
    assert no_space(OSError(errno.ENOSPC, "No space left on device"))
    assert not no_space(optuna.exceptions.StorageInternalError("exceeding max length"))
    assert not no_space(OSError(errno.EACCES, "Permission denied"))


def test_a_trial_failing_on_a_full_disk_stops_the_search(tmp_path: Path) -> None:
    watch = storage_full.NoSpaceWatch("runs/q")
    other = tmp_path / "other.txt"
    other.write_text("ValueError: shapes do not match")
    watch.on_trial_recover(0, [], SimpleNamespace(trial_id="a", error_file=str(other)))  # not ours: Tune retries
    watch.on_trial_error(0, [], SimpleNamespace(trial_id="a", error_file=None))
    full = tmp_path / "error.txt"
    full.write_text("ray.train.ControllerError: [Errno 28] Error writing bytes to file. Detail: [errno 28] No space "
                    "left on device")
    for hook in (watch.on_trial_recover, watch.on_trial_error):
        with pytest.raises(StorageFull, match=r"^runs/q: no space left on device \(trial b .*then `raytl resume "
                                              r"runs/q`$"):
            hook(0, [], SimpleNamespace(trial_id="b", error_file=str(full)))


def _main_with_app(define_app: str) -> list[str]:
    """Run `raytl.cli.main()` in a fresh interpreter with the app replaced by `app` from `define_app`; check it
    exits 2 and return its stderr lines."""
    code = define_app + "import raytl.cli as cli\ncli.app = app\ncli.main()\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    return done.stderr.strip().splitlines()


def test_the_cli_says_disk_full_in_one_line_with_exit_2() -> None:
    assert _main_with_app("import sqlite3, optuna\n"
                          "def app(*a, **k):\n"
                          "    try:\n"
                          "        raise sqlite3.OperationalError('database or disk is full')\n"
                          "    except sqlite3.OperationalError as exc:\n"
                          "        raise optuna.exceptions.StorageInternalError("
                          "'An exception is raised during the commit.') from exc\n") == [
        "error: no space left on device (StorageInternalError: An exception is raised during the commit.); what was "
        "written is intact: free space, then `raytl resume RUN_DIR`"]


def test_write_atomic_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.json"
    write_atomic(target, "old")

    class Full:
        def __init__(self, fd: int, mode: str) -> None:
            self.fd = fd

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            run_dir_module.os.close(self.fd)

        def write(self, text: str) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_dir_module.os, "fdopen", Full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, "new" * 1000)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_phase_that_cannot_be_written_leaves_no_staging_directory(tmp_path: Path) -> None:
    def full(directory: Path) -> None:
        (directory / "model.safetensors").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    store = PhaseStore(tmp_path)
    with pytest.raises(OSError, match="No space"):
        store.publish("p1", full, {})
    assert list(tmp_path.iterdir()) == []
    assert store.verified("p1") is None


def test_the_cli_finds_the_stop_line_inside_tunes_wrapping() -> None:
    """Tune re-raises a callback's error as a TuneError holding the traceback text: the CLI still prints the line."""
    assert _main_with_app("from ray.tune.error import TuneError\n"
                          "def app(*a, **k):\n"
                          "    raise TuneError('Traceback (most recent call last):\\n  File x\\n"
                          "raytl.errors.StorageFull: runs/q: no space left on device (trial b); "
                          "free space there, then `raytl resume runs/q`\\n')\n") == [
        "error: runs/q: no space left on device (trial b); free space there, then `raytl resume runs/q`"]
