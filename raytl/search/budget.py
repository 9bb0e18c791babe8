"""The GPU-hour budget: a Tune `Stopper` summing every trial's wall time x its GPUs.

The tally lives in a JSON ledger in the run directory, so a resumed search counts the hours spent before the crash
(Tune pickles the stopper when the search starts, before any hour is spent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray.tune import Stopper

from raytl.pipeline.run_dir import write_json


class GpuHourStopper(Stopper):
    """Stops the whole search once `sum(trial wall time) x gpus_per_trial >= budget_hours`.

    >>> ledger = Path("/tmp/raytl-doc/gpu_hours.json"); ledger.unlink(missing_ok=True)  # RUN_DIR/gpu_hours.json
    >>> stopper = GpuHourStopper(budget_hours=16, gpus_per_trial=8, ledger=ledger)
    >>> stopper("t1", {"time_total_s": 3600}), stopper.stop_all()  # one hour on 8 GPUs
    (False, False)
    >>> stopper("t2", {"time_total_s": 3600}), stopper.used_hours(), stopper.stop_all()
    (False, 16.0, True)
    """

    def __init__(self, budget_hours: float, gpus_per_trial: float, ledger: Path) -> None:
        self.budget_hours = budget_hours
        self.gpus_per_trial = gpus_per_trial
        self.ledger = ledger
        self._seconds: dict[str, list[float]] | None = None  # trial -> [seconds of earlier attempts, current]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_seconds": None}  # the ledger file is the truth

    @property
    def seconds(self) -> dict[str, list[float]]:
        if self._seconds is None:
            self._seconds = json.loads(self.ledger.read_text())["seconds"] if self.ledger.is_file() else {}
        return self._seconds

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        now = float(result.get("time_total_s", 0.0))
        before, last = self.seconds.get(trial_id, [0.0, 0.0])
        if now < last:  # the trial restarted (a retry or a resume): its clock started again
            before += last
        self.seconds[trial_id] = [before, now]
        write_json(self.ledger, {"gpu_hours": self.used_hours(), "budget": self.budget_hours,
                                 "seconds": self.seconds})
        return False

    def used_hours(self) -> float:
        return sum(before + last for before, last in self.seconds.values()) * self.gpus_per_trial / 3600

    def stop_all(self) -> bool:
        return self.used_hours() >= self.budget_hours
