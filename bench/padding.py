"""Padding waste of raytl's length-grouped dynamic batches against fixed max-length padding, and what it buys.

`python -m bench padding [--rows 20000] [--batch 32] [--world 1] [--train-rows 512] [--repeats 2] [--threads 2]`

Lengths are drawn to look like XNLI/MNLI premise+hypothesis pairs under XLM-R's tokenizer (neither the real
tokenizer nor the data can be downloaded here, so the shape is modelled, not measured): premise tokens
~ LogNormal(ln 28, 0.6), hypothesis tokens ~ LogNormal(ln 13, 0.4), plus XLM-R's 4 specials
(`<s> A </s></s> B </s>`), truncated at `--max-length` 128 as training does. That gives a mean near 50 tokens,
a median near 46, a 99th percentile near 132 (about 1% of pairs are truncated).

1. Efficiency = real tokens / padded tokens over one epoch of `--rows` rows: every micro-batch that
   `TrainBatches` (raytl's training batches) yields for every rank, against every row padded to max length.
2. Speed-up: wall-clock of one epoch of `tiny4` training on `--train-rows` of those rows (a plain AdamW loop, the
   same batches in the same order), padded dynamically vs to max length; interleaved repeats, min/median.

The last line is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator

import numpy as np
import torch

from bench._training import loss_fn, summary, synthetic_rows, task_model
from raytl.training.batching import TrainBatches, row_length

Batch = dict[str, torch.Tensor]


def xnli_like_lengths(count: int, max_length: int, seed: int) -> np.ndarray:
    """Token counts of premise+hypothesis pairs with XNLI's shape (see the module docstring for the model)."""
    rng = np.random.default_rng(seed)
    premise = rng.lognormal(np.log(28), 0.6, count)
    hypothesis = rng.lognormal(np.log(13), 0.4, count)
    return np.minimum(np.rint(premise + hypothesis).astype(int) + 4, max_length)


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--rows", "500", "--train-rows", "64", "--repeats", "1"])  # doctest: +SKIP
    """
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    lengths = xnli_like_lengths(args.rows, args.max_length, args.seed)
    print(f"lengths: mean {lengths.mean():.1f}, median {np.median(lengths):.0f}, p99 {np.percentile(lengths, 99):.0f}, "
          f"max {lengths.max()}, truncated at {args.max_length}: {(lengths == args.max_length).mean():.1%}")
    _, pad_id, vocab = task_model(args.model, args.seed)
    rows = synthetic_rows(lengths, vocab, args.seed)
    dynamic = efficiency(_epoch(rows, args, args.world, pad_id), pad_id)
    fixed = float(lengths.sum() / (len(lengths) * args.max_length))
    print(f"real / padded tokens over an epoch of {args.rows} rows, global batch {args.batch} on {args.world} "
          f"rank(s): dynamic {dynamic:.3f}, fixed {args.max_length}: {fixed:.3f}")
    speedups = _speedups(rows[: args.train_rows], args, pad_id)
    print(f"epoch speed-up, dynamic over fixed: {summary(speedups, 'x')}")
    print(f"padding: {dynamic:.3f} (target >= 0.9; fixed {args.max_length}-token padding {fixed:.3f}; "
          f"tiny4 epoch {statistics.median(speedups):.2f}x faster with dynamic padding [min {min(speedups):.2f}x])")


def _epoch(rows: list[dict], args: argparse.Namespace, world: int, pad_id: int) -> Iterator[Batch]:
    """Every micro-batch of one epoch, over all ranks, as raytl's `TrainBatches` yields them."""
    lengths = [row_length(row) for row in rows]
    for rank in range(world):
        batches = TrainBatches(rows=rows, lengths=lengths, keys=("labels",), batch_size=args.batch,
                               micro_batch=args.batch // world, seed=args.seed, rank=rank, world=world, pad_id=pad_id)
        steps = batches.from_step(0)
        for _ in range(batches.steps_per_epoch):
            yield from next(steps)


def efficiency(batches: Iterator[Batch], pad_id: int) -> float:
    """Real tokens / padded tokens (rows start with `<s>`, never padding, so the mask counts real tokens)."""
    real = padded = 0
    for batch in batches:
        real += int((batch["input_ids"] != pad_id).sum())
        padded += batch["input_ids"].numel()
    return real / padded


def to_max_length(batch: Batch, max_length: int, pad_id: int) -> Batch:
    """The same rows padded to `max_length`, as fixed padding would give them."""
    ids = torch.nn.functional.pad(batch["input_ids"], (0, max_length - batch["input_ids"].shape[1]), value=pad_id)
    return {**batch, "input_ids": ids, "attention_mask": (ids != pad_id).long()}


def _speedups(rows: list[dict], args: argparse.Namespace, pad_id: int) -> list[float]:
    dynamic = list(_epoch(rows, args, 1, pad_id))
    fixed = [to_max_length(batch, args.max_length, pad_id) for batch in dynamic]
    print(f"training epoch: {len(dynamic)} steps of {args.batch} rows; real / padded tokens: dynamic "
          f"{efficiency(iter(dynamic), pad_id):.3f}, fixed {efficiency(iter(fixed), pad_id):.3f}")
    out = []
    for _ in range(args.repeats):
        fixed_time, dynamic_time = _train_epoch(fixed, args), _train_epoch(dynamic, args)
        print(f"  epoch: fixed {fixed_time:.1f} s, dynamic {dynamic_time:.1f} s", flush=True)
        out.append(fixed_time / dynamic_time)
    return out


def _train_epoch(batches: list[Batch], args: argparse.Namespace) -> float:
    model, _, _ = task_model(args.model, args.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    loss_fn(model(batches[0]), batches[0]).backward()  # untimed: first-call allocations
    optimizer.zero_grad()
    start = time.perf_counter()
    for batch in batches:
        loss_fn(model(batch), batch).backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - start


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench padding", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000, help="rows of the epoch whose padding is counted")
    parser.add_argument("--batch", type=int, default=32, help="global batch size")
    parser.add_argument("--world", type=int, default=1, help="ranks the global batch is split across")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--model", default="tiny4", help="model zoo entry built from config")
    parser.add_argument("--train-rows", type=int, default=512, help="rows of the timed training epoch")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of the timed epoch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch % args.world or args.train_rows < args.batch or args.rows < args.batch:
        parser.error("need batch divisible by world, and rows, train-rows >= batch")
    return args
