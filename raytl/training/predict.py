"""Distributed inference: length-sorted batches sharded across ranks, logits gathered back in example order."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from raytl.training.batching import collate, row_length, sorted_batches
from raytl.training.distributed import Ranks
from raytl.training.engine import Engine


def predict(engine: Engine, rows: Sequence[dict], batch_size: int, pad_id: int, ranks: Ranks) -> list[torch.Tensor]:
    """Logits for every row, on every rank. Every rank runs the same number of forward passes, which ZeRO-3's
    parameter gathering needs: a rank short of work repeats its last batch and drops the result."""
    batches = sorted_batches([row_length(row) for row in rows], batch_size)
    mine = batches[ranks.rank :: ranks.world]
    rounds = -(-len(batches) // ranks.world)
    results: list[tuple[int, torch.Tensor]] = []
    for index in range(rounds):
        batch_rows = mine[min(index, len(mine) - 1)] if mine else batches[0]
        logits = engine.predict(collate([rows[int(i)] for i in batch_rows], pad_id))
        if index < len(mine):
            results += [(int(i), logits[j]) for j, i in enumerate(batch_rows)]
    ordered: list[torch.Tensor] = [torch.empty(0)] * len(rows)
    for part in ranks.gather(results):
        for i, logit in part:
            ordered[i] = logit
    return ordered

