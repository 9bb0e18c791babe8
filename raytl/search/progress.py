"""Live progress of a search: one line per evaluation, with trials running/finished and the best so far."""

from __future__ import annotations

import math
import time
from typing import Any

from ray.tune import Callback


class ProgressPrinter(Callback):
    """Prints `[12s] trial 3f2a (mnli, tiny) xnli step 40/60 objective 61.2 | running 1, finished 2 | best 64.0
    (mnli, tiny)`: the trial's own intermediate task and model, the target phase it is in and that phase's step."""

    def __init__(self, metric: str = "objective") -> None:
        self.metric = metric
        self.start = time.monotonic()
        self.best: tuple[float, str] = (-math.inf, "")
        self.finished = 0

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        value = result.get(self.metric, math.nan)
        config = trial.config
        if isinstance(value, float) and value > self.best[0]:
            self.best = (value, f"{config.get('intermediate')}, {config.get('model')}")
        running = sum(t.status == "RUNNING" for t in trials)
        best = f"{self.best[0]:.2f} ({self.best[1]})" if self.best[1] else "-"
        print(
            f"[{time.monotonic() - self.start:5.0f}s] trial {trial.trial_id} ({config.get('intermediate')}, "
            f"{config.get('model')}) {phase_step(result)} {self.metric} {value:.2f} | running {running}, "
            f"finished {self.finished} | best {best}",
            flush=True,
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finished += 1

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.finished += 1
        print(f"trial {trial.trial_id} failed: see {trial.local_path}", flush=True)


def phase_step(result: dict[str, Any]) -> str:
    """Where a report stands: the target and its step of the phase's steps; without a current target (a report
    that repeats a finished trial's state), the steps summed over the targets, the scheduler's time axis.

    >>> phase_step({"step": 100, "target": "pawsx", "target_step": 40, "target_steps": 60})
    'pawsx step 40/60'
    >>> phase_step({"step": 120, "target": ""})
    'step 120 (all targets)'
    """
    if not result.get("target"):
        return f"step {result.get('step')} (all targets)"
    total = result.get("target_steps")
    return f"{result['target']} step {result.get('target_step')}" + (f"/{total}" if total else "")
