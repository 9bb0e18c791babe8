"""Multi-task intermediate phases: one head per task; every optimizer step trains on one task's global batch,
drawn by a seeded schedule all ranks agree on (so every rank uses the same head in a step)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from raytl.config import MixtureConfig
from raytl.tasks.formats.base import Batch
from raytl.training.batching import TrainBatches

TASK_INDEX = "task_index"


def sampling_weights(sizes: list[int], mixture: MixtureConfig) -> np.ndarray:
    """Probability of each task per step: the mixture's weight of each task's size, normalised.

    >>> from raytl.config import TemperatureMixture
    >>> sampling_weights([300, 100], TemperatureMixture(tasks=["a", "b"], temperature=2.0)).round(3)
    array([0.634, 0.366])
    """
    counts = np.asarray([mixture.weight(size) for size in sizes], dtype=np.float64)
    return counts / counts.sum()


class MixtureHead(nn.Module):
    """The heads of a mixture's tasks; a batch goes to the head its `task_index` names."""

    def __init__(self, heads: dict[str, nn.Module]) -> None:
        super().__init__()
        self.heads = nn.ModuleDict(heads)
        self.names = list(heads)
        self.selected = 0

    def select(self, name: str) -> None:
        """The head for batches without a task index (evaluating one task of the mixture)."""
        self.selected = self.names.index(name)

    def forward(self, hidden_states: torch.Tensor, batch: Batch) -> torch.Tensor:
        index = int(batch[TASK_INDEX]) if TASK_INDEX in batch else self.selected
        return self.heads[self.names[index]](hidden_states, batch)


def mixture_batches(batches: list[TrainBatches], weights: np.ndarray, seed: int) -> Iterator[list[Batch]]:
    """Each step's micro-batches: the task drawn from `weights`, then that task's next batch (its own epochs)."""
    streams = [task_batches.from_step(0) for task_batches in batches]
    rng = np.random.default_rng([seed, 1])
    while True:
        index = int(rng.choice(len(streams), p=weights))
        yield [{**micro, TASK_INDEX: torch.tensor(index)} for micro in next(streams[index])]


def mixture_loss(losses: list[Callable[[torch.Tensor, Batch], torch.Tensor]]
                 ) -> Callable[[torch.Tensor, Batch], torch.Tensor]:
    def loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        return losses[int(batch[TASK_INDEX])](logits, batch)

    return loss
