"""Dynamic padding: length-grouped batches for training, length-sorted batches for evaluation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from raytl.tasks.formats.base import IGNORE_INDEX, Batch

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


def row_length(row: dict) -> int:
    """Tokens of a row's longest sequence (multiple-choice rows hold one sequence per choice)."""
    ids = row["input_ids"]
    return max(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids)


def collate(rows: Sequence[dict], pad_id: int, keys: Sequence[str] = ()) -> Batch:
    """Pad `input_ids` ([rows, tokens] or [rows, choices, tokens]) to the longest sequence, derive the attention
    mask, and add `keys`: scalars stacked, per-token sequences padded with IGNORE_INDEX.

    >>> collate([{"input_ids": [0, 5, 2], "labels": 1}, {"input_ids": [0, 2], "labels": 0}], 1, ["labels"])["input_ids"]
    tensor([[0, 5, 2],
            [0, 2, 1]])
    """
    width = max(row_length(row) for row in rows)
    input_ids = torch.as_tensor(np.stack([_pad(row["input_ids"], width, pad_id) for row in rows]))
    batch = {"input_ids": input_ids, "attention_mask": (input_ids != pad_id).long()}
    for key in keys:
        values = [row[key] for row in rows]
        if isinstance(values[0], list):
            batch[key] = torch.as_tensor(np.stack([_pad(v, width, IGNORE_INDEX) for v in values]))
        else:
            batch[key] = torch.as_tensor(values)
    return batch


def _pad(sequence: list, width: int, value: int) -> np.ndarray:
    if sequence and isinstance(sequence[0], list):
        return np.stack([_pad(choice, width, value) for choice in sequence])
    out = np.full(width, value, dtype=np.int64)
    out[: len(sequence)] = sequence
    return out


@dataclass(frozen=True)
class TrainBatches:
    """Each optimizer step's micro-batches for one rank: a deterministic function of (seed, step), so resume works.

    A global batch of `batch_size` rows is split across `world` ranks, then into micro-batches of `micro_batch`.
    """

    rows: Sequence[dict]
    lengths: Sequence[int]
    keys: Sequence[str]
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
                    collate([self.rows[int(i)] for i in mine[j : j + self.micro_batch]], self.pad_id, self.keys)
                    for j in range(0, len(mine), self.micro_batch)
                ]
            epoch, skip = epoch + 1, 0
