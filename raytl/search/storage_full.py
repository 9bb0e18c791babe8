"""A full disk under the run stops the search: retrying trials that cannot write their checkpoints and summaries
would only burn their `max_failures` and mark them failed. Cannot be fixed from here, so it is said in one line.

`NoSpaceWatch` (a Tune callback) reads every failed or retried trial's error; on a full disk it notes it, and
`NoSpaceStopper` then ends the experiment (Tune's `stop_all`). `check_storage` (called before the results are
read) turns the note into `StorageFull`, which the CLI prints as one line with exit status 2. Both live in the
driver process: the note is this module's state, never pickled with the Tuner. What was written stays as it was:
finished trials, their checkpoints and the study; the interrupted trial is unfinished in Tune's state, so
`raytl resume RUN_DIR` continues it once there is room.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.stopper import Stopper

from raytl.errors import StorageFull, no_space
from raytl.pipeline.run_dir import RunDir

_FULL: list[str] = []  # trial ids that failed on a full disk, in this driver process


class NoSpaceWatch(tune.Callback):
    """Notes a trial whose error is a full disk (the retried ones too: Tune calls `on_trial_recover` for those)."""

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._check(trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._check(trial)

    @staticmethod
    def _check(trial: Any) -> None:
        text = Path(trial.error_file).read_text(errors="replace") if trial.error_file else ""
        if no_space(text):
            _FULL.append(trial.trial_id)


class NoSpaceStopper(Stopper):
    """Ends the whole experiment once `NoSpaceWatch` saw a full disk; never stops a single trial."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return bool(_FULL)


def check_storage(run: RunDir) -> None:
    """Raise `StorageFull` when a trial of this driver failed on a full disk (the search was stopped)."""
    if _FULL:
        raise StorageFull(f"{run.location}: no space left on device (trial {_FULL[0]} could not write its "
                          f"checkpoint or results); the search stopped, what was written is intact: free space "
                          f"there, then `raytl resume {run.location}`")
