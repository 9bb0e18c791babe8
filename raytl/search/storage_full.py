"""A full disk under the run stops the search: retrying trials that cannot write their checkpoints and summaries
would only burn their `max_failures`, and the study would then fail to commit. It cannot be fixed from here, so it
is said in one line.

`NoSpaceWatch` (a Tune callback) reads every failed or retried trial's error; on a full disk it raises
`StorageFull`, which ends `Tuner.fit` like a killed driver (Tune saves no state on the way out, so the last
state it saved stays as it was, with the trial unfinished) and which the CLI prints as one line with exit status
2. Ending the experiment through a Tune stopper instead would mark the interrupted trial TERMINATED, and
`raytl resume` would never finish it. What was written stays as it was: finished trials, checkpoints, the study;
`raytl resume RUN_DIR` continues the interrupted trial from its last checkpoint once there is room.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune

from raytl.errors import StorageFull, no_space


class NoSpaceWatch(tune.Callback):
    """Stops the search on a trial whose error is a full disk (retried ones too: Tune calls `on_trial_recover`)."""

    def __init__(self, location: str) -> None:
        self.location = location

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._check(trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._check(trial)

    def _check(self, trial: Any) -> None:
        text = Path(trial.error_file).read_text(errors="replace") if trial.error_file else ""
        if no_space(text):
            raise StorageFull(f"{self.location}: no space left on device (trial {trial.trial_id} could not write "
                              f"its checkpoint or results); the search stopped and what was written is intact: "
                              f"free space there, then `raytl resume {self.location}`")
