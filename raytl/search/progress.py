"""Live progress of a search: one line per evaluation, with trials running/finished and the best so far."""

from __future__ import annotations

import math
import time
from typing import Any

from ray.tune import Callback


class ProgressPrinter(Callback):
    """Prints `[12s] trial 3f2a step 40 objective 61.2 | running 1, finished 2 | best 64.0 (mnli, tiny)`."""

    def __init__(self, metric: str = "objective") -> None:
        self.metric = metric
        self.start = time.monotonic()
        self.best: tuple[float, str] = (-math.inf, "")
        self.finished = 0

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        value = result.get(self.metric, math.nan)
        if isinstance(value, float) and value > self.best[0]:
            config = trial.config
            self.best = (value, f"{config.get('intermediate')}, {config.get('model')}")
        running = sum(t.status == "RUNNING" for t in trials)
        best = f"{self.best[0]:.2f} ({self.best[1]})" if self.best[1] else "-"
        print(
            f"[{time.monotonic() - self.start:5.0f}s] trial {trial.trial_id} step {result.get('step')} "
            f"{self.metric} {value:.2f} | running {running}, finished {self.finished} | best {best}",
            flush=True,
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finished += 1

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finished += 1
        print(f"trial {trial.trial_id} failed: see {trial.local_path}", flush=True)
