"""A run on s3:// or gs://: the search driver's own files reach the run's URI while the search runs.

Ray Tune uploads its experiment state, Ray Train its checkpoints and the workers their summaries; what only the
driver writes (the Optuna SQLite study, the GPU-hour ledger) lives in the head's mirror of the run and is uploaded
by this callback after trial results (at most every `every_s` seconds), after every finished trial and at the end.
`raytl resume URI` on a new head pulls them back before restoring the search.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from ray import tune

from raytl.pipeline import storage
from raytl.pipeline.run_dir import RunDir


class UploadDriverState(tune.Callback):
    def __init__(self, run: RunDir, paths: list[Path], every_s: float = 30.0) -> None:
        self.run, self.paths, self.every_s = run, paths, every_s
        self.last = 0.0

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.upload()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.upload()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.upload()

    def upload(self) -> None:
        self.last = time.monotonic()
        for path in self.paths:
            if path.is_file():
                data = sqlite_snapshot(path) if path.suffix == ".db" else path.read_bytes()
                storage.write_bytes(self.run.uri(path), data)


def sqlite_snapshot(path: Path) -> bytes:
    """A consistent copy of a SQLite database another connection may be writing (SQLite's online backup)."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / path.name
        source, target = sqlite3.connect(path), sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return copy.read_bytes()
