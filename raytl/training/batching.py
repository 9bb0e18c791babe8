"""Dynamic padding: length-grouped batches for training, length-sorted batches for evaluation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from raytl.tasks.formats.base import Batch

GROUP_SIZE = 50  # batches per length-sorted mega-batch: enough to pad little, few enough to stay random


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Shuffle, sort by length inside mega-batches of GROUP_SIZE batches, shuffle the batches; drop the ragged tail.

    >>> [len(b) for b in length_grouped_batches([5, 3, 9, 1, 4], 2, seed=0, epoch=0)]
    [2, 2]
    """
    rng = np.random.default_rng([seed, epoch])
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    mega = batch_size * GROUP_SIZE
    batches = []
    for start in range(0, len(order), mega):
        chunk = order[start : start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Longest first, so the first batch shows the peak memory at once."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(rows: Sequence[dict], pad_id: int) -> Batch:
    """Pad `input_ids` to the longest row; stack any other per-row field as a tensor."""
    width = max(len(row["input_ids"]) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row["input_ids"])] = torch.as_tensor(row["input_ids"])
    batch = {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long()}
    for key in rows[0]:
        if key != "input_ids":
            batch[key] = torch.as_tensor([row[key] for row in rows])
    return batch


@dataclass(frozen=True)
class TrainBatches:
    """Each optimizer step's micro-batches for one rank: a deterministic function of (seed, step), so resume works.

    A global batch of `batch_size` rows is split across `world` ranks, then into micro-batches of `micro_batch`.
    """

    rows: Sequence[dict]
    lengths: Sequence[int]
    batch_size: int
    micro_batch: int
    seed: int
    rank: int
    world: int
    pad_id: int

    @property
    def steps_per_epoch(self) -> int:
        return len(self.lengths) // self.batch_size

    def from_step(self, start_step: int) -> Iterator[list[Batch]]:
        """Micro-batches of every step after `start_step`, forever (the caller stops at its step budget)."""
        epoch, skip = divmod(start_step, self.steps_per_epoch)
        while True:
            for global_batch in length_grouped_batches(self.lengths, self.batch_size, self.seed, epoch)[skip:]:
                mine = global_batch[self.rank :: self.world]
                yield [
                    collate([self.rows[int(i)] for i in mine[j : j + self.micro_batch]], self.pad_id)
                    for j in range(0, len(mine), self.micro_batch)
                ]
            epoch, skip = epoch + 1, 0
