"""The layout of a run directory, in one place.

    RUN_DIR/space.yaml                         the resolved search space the run uses
    RUN_DIR/tune/                              Ray Tune's experiment (restored by `raytl resume`)
    RUN_DIR/train/<trial_id>/                  each trial's Ray Train run (its checkpoints)
    RUN_DIR/phases/<phase_id>/                 published intermediate encoders (see `store.py`)
    RUN_DIR/optuna.db                          the Optuna study (SQLite, when no other storage is given)
    RUN_DIR/trials/<trial_id>/summary.json     per-trial results, rewritten at every evaluation
    RUN_DIR/trials/<trial_id>/predictions/TASK/test-LANG.tsv   XTREME submission layout
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunDir:
    root: Path

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
    def phases(self) -> Path:
        return self.root / "phases"

    @property
    def optuna_db(self) -> Path:
        return self.root / "optuna.db"

    @classmethod
    def of(cls, storage: str, name: str) -> RunDir:
        """The run directory of a search named `name` under `storage`."""
        return cls(Path(storage).resolve() / name)

    def trial(self, trial_id: str) -> Path:
        return self.root / "trials" / trial_id

    def summary(self, trial_id: str) -> Path:
        return self.trial(trial_id) / "summary.json"

    def predictions(self, trial_id: str) -> Path:
        return self.trial(trial_id) / "predictions"


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
