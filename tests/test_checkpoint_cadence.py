"""The checkpoint cadence: every `eval_every` steps, at the end, and (with `checkpoint_minutes`) whenever that much
wall time passed since the last checkpoint. `fit` stays Ray-free: the wall clock is a predicate passed in."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raytl.config import parse_space
from raytl.errors import InputError
from raytl.pipeline.phase_id import TrialParams, intermediate_phase_id
from raytl.training.loop import WallClock, fit
from tests.conftest import tiny_space


class FakeEngine:
    """One 'step' advances a fake clock by `seconds_per_step`."""

    def __init__(self, clock: list[float], seconds_per_step: float) -> None:
        self.clock, self.seconds_per_step = clock, seconds_per_step

    def train_step(self, micro_batches: list, loss_fn) -> float:
        self.clock[0] += self.seconds_per_step
        return 1.0


def checkpoints(seconds: float | None, seconds_per_step: float, start_step: int = 0) -> list[int]:
    now = [0.0]
    clock = WallClock(seconds, now=lambda: now[0]) if seconds else None
    steps: list[int] = []

    def on_evaluation(step: int, loss: float) -> None:
        steps.append(step)
        now[0] += 1.0  # evaluation and saving take time too: the clock restarts after them
        if clock is not None:
            clock.reset()

    batches = iter(lambda: [{"x": torch.zeros(1)}], None)
    fit(FakeEngine(now, seconds_per_step), batches, lambda out, batch: out, start_step=start_step, total_steps=20,
        eval_every=10, on_evaluation=on_evaluation, checkpoint_due=clock)
    return steps


def test_steps_alone_without_checkpoint_minutes() -> None:
    assert checkpoints(None, seconds_per_step=100.0) == [10, 20]


def test_wall_clock_adds_checkpoints_between_step_evaluations() -> None:
    # 3 s per step, a checkpoint once 7 s passed: after 3 steps, counted again from every checkpoint
    assert checkpoints(7.0, seconds_per_step=3.0) == [3, 6, 9, 10, 13, 16, 19, 20]
    assert checkpoints(7.0, seconds_per_step=3.0, start_step=12) == [15, 18, 20]  # a resumed phase, clock fresh


def test_wall_clock_decision_is_the_agreed_one() -> None:
    now = [100.0]
    clock = WallClock(1.0, agree=lambda due: False, now=lambda: now[0])  # rank 0 says no: nobody checkpoints
    now[0] += 5
    assert clock() is False
    assert WallClock(1.0, agree=lambda due: True, now=lambda: now[0])() is True


def test_checkpoint_minutes_in_the_space(tmp_path: Path) -> None:
    base = tiny_space(tmp_path)
    space = parse_space({**base, "target": {**base["target"], "checkpoint_minutes": 10},
                         "target_overrides": {"xnli": {"checkpoint_minutes": 0.5}}})
    assert space.target.checkpoint_minutes == 10 and space.target_phase("xnli").checkpoint_minutes == 0.5
    with pytest.raises(InputError, match="target.checkpoint_minutes"):
        parse_space({**base, "target": {**base["target"], "checkpoint_minutes": 0}})


def test_checkpoint_cadence_does_not_change_a_shared_intermediate_phase(tmp_path: Path) -> None:
    base = tiny_space(tmp_path)
    params = TrialParams("tiny", "mnli", 2e-3, 2e-3)
    slow = parse_space(base)
    often = parse_space({**base, "intermediate": {**base["intermediate"], "checkpoint_minutes": 5}})
    assert intermediate_phase_id(slow, params) == intermediate_phase_id(often, params)
