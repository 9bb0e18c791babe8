"""Multi-task mixtures: sampling weights, routing to each task's head, and a real mixture phase under DeepSpeed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter

from raytl.config import MixtureConfig, parse_space
from raytl.errors import InputError
from raytl.pipeline.mixture import TASK_INDEX, MixtureHead, mixture_batches, sampling_weights
from raytl.tasks import INTERMEDIATE_TASKS, TARGET_TASKS
from raytl.training.batching import TrainBatches
from tests.conftest import tiny_space


@pytest.mark.parametrize(
    "sampling,expected",
    [("proportional", [0.9, 0.1]), ("temperature", [0.75, 0.25]), ("capped", [0.5, 0.5])],
)
def test_sampling_weights(sampling: str, expected: list[float]) -> None:
    settings = {"temperature": {"temperature": 2.0}, "capped": {"cap": 100}}.get(sampling, {})
    mixture = TypeAdapter(MixtureConfig).validate_python({"tasks": ["a", "b"], "sampling": sampling, **settings})
    assert sampling_weights([900, 100], mixture) == pytest.approx(expected)


def test_schedule_follows_the_weights_and_is_the_same_on_every_rank() -> None:
    def task(n: int, rank: int) -> TrainBatches:
        rows = [{"input_ids": [0, 5, 2], "labels": 0}] * n
        return TrainBatches(rows, [3] * n, ["labels"], batch_size=4, micro_batch=2, seed=0, rank=rank, world=2,
                            pad_id=1)

    def schedule(rank: int) -> list[int]:
        stream = mixture_batches([task(400, rank), task(40, rank)], np.array([0.8, 0.2]), seed=3)
        return [int(next(stream)[0][TASK_INDEX]) for _ in range(500)]

    assert schedule(0) == schedule(1)
    assert 0.74 < schedule(0).count(0) / 500 < 0.86


class _Head(torch.nn.Linear):
    def forward(self, hidden: torch.Tensor, batch: dict) -> torch.Tensor:  # a format head's signature
        return super().forward(hidden)


def test_heads_are_routed_by_task_index() -> None:
    head = MixtureHead({"a": _Head(4, 2), "b": _Head(4, 3)})
    hidden = torch.zeros(1, 5, 4)
    assert head(hidden, {TASK_INDEX: torch.tensor(1)}).shape[-1] == 3
    head.select("a")
    assert head(hidden, {}).shape[-1] == 2


def test_mixture_names_are_validated(tmp_path: Path) -> None:
    allowed = {"intermediate_tasks": INTERMEDIATE_TASKS, "targets": TARGET_TASKS}
    space = parse_space(tiny_space(tmp_path, mixtures={"nli_mix": {"tasks": ["mnli", "qqp"]}},
                                   intermediate_tasks=["none", "nli_mix"]), **allowed)
    assert space.mixtures["nli_mix"].sampling == "proportional"
    with pytest.raises(InputError, match=r"mixtures: unknown task of mixture 'bad' 'mlmm'"):
        parse_space(tiny_space(tmp_path, mixtures={"bad": {"tasks": ["mnli", "mlmm"]}}), **allowed)
    with pytest.raises(InputError, match="intermediate_tasks: unknown intermediate task 'nli_mix'"):
        parse_space(tiny_space(tmp_path, intermediate_tasks=["nli_mix"]), **allowed)
