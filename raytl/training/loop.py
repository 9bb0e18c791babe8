"""`fit`: the one training loop every phase uses. It knows neither Ray nor DeepSpeed."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import torch

from raytl.tasks.formats.base import Batch


class Diverged(RuntimeError):
    """The loss became NaN or infinite; the trial ends with status 'diverged'."""


class Stepper(Protocol):
    def train_step(
        self, micro_batches: list[Batch], loss_fn: Callable[[torch.Tensor, Batch], torch.Tensor]
    ) -> float: ...


def fit(
    engine: Stepper,
    batches: Iterator[list[Batch]],
    loss_fn: Callable[[torch.Tensor, Batch], torch.Tensor],
    *,
    start_step: int,
    total_steps: int,
    eval_every: int,
    on_evaluation: Callable[[int, float], None],
    checkpoint_due: Callable[[], bool] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> None:
    """Train steps `start_step + 1 .. total_steps`; every `eval_every` steps, at the end, and after any step where
    `checkpoint_due()` is true (e.g. a `WallClock`) call `on_evaluation(step, mean training loss since the last call)`;
    `on_step(step)` after every optimizer step (e.g. to time the trial's start-up).

    >>> class Halving:  # any engine: one optimizer step over a list of micro-batches, returning its loss
    ...     loss = 8.0
    ...     def train_step(self, micro_batches, loss_fn):
    ...         self.loss /= 2
    ...         return self.loss
    >>> fit(Halving(), iter([[{}]] * 5), loss_fn=None, start_step=0, total_steps=5, eval_every=2,
    ...     on_evaluation=lambda step, loss: print(step, loss))
    2 3.0
    4 0.75
    5 0.25
    """
    losses: list[float] = []
    for step in range(start_step + 1, total_steps + 1):
        loss = engine.train_step(next(batches), loss_fn)
        if on_step is not None:
            on_step(step)
        if not math.isfinite(loss):
            raise Diverged(f"loss is {loss} at step {step}")
        losses.append(loss)
        if step % eval_every == 0 or step == total_steps or (checkpoint_due is not None and checkpoint_due()):
            on_evaluation(step, sum(losses) / len(losses))
            losses.clear()


class WallClock:
    """A checkpoint cadence in wall time: due once `seconds` passed since the last `reset()`. `agree` turns the local
    answer into one all ranks share (rank 0's), so every rank enters the collective checkpoint at the same step.

    The worker passes `WallClock(600, agree=ranks.broadcast)` as `fit(..., checkpoint_due=clock)` and resets it
    after each checkpoint. With a fake clock:

    >>> times = iter([0, 599, 601, 601, 700])
    >>> clock = WallClock(600, now=lambda: next(times))  # started at 0
    >>> clock(), clock()  # asked at 599 s, then at 601 s
    (False, True)
    >>> clock.reset(); clock()  # reset at 601 s, asked at 700 s
    False
    """

    def __init__(self, seconds: float, agree: Callable[[bool], bool] = bool,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.agree, self.now = seconds, agree, now
        self.start = now()

    def __call__(self) -> bool:
        return bool(self.agree(self.now() - self.start >= self.seconds))

    def reset(self) -> None:
        self.start = self.now()
