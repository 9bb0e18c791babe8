"""Preprocessing of a second trial needing the same data, against the first's: the on-disk tokenisation cache.

`python -m bench preprocess_cache [--rows 20000] [--max-length 128] [--task xnli] [--split train] [--repeats 3]`

Each trial is a fresh process (spawned, as a new Ray Train worker is) with the same `RAYTL_CACHE_DIR`, a new
temporary directory per repeat. A trial first builds the `tiny` tokenizer, untimed (a trial needs it for its model
whether or not data is cached), then times `raytl.pipeline.context.encoded` on `--rows` generated rows of the task
in its real schema (XNLI-like premise/hypothesis pairs by default): the first trial loads, tokenises and writes the
cache entry, the second computes the key, memory-maps the entry and turns it into rows. Both trials' rows are
checked to be identical. The last line is the figure: second / first, median over repeats.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--rows", "500", "--repeats", "1"])  # doctest: +SKIP
    """
    args = _parse(argv)
    ratios, same = [], True
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-preprocess-cache-") as cache_dir:
            first, second = (_in_fresh_process(args, cache_dir) for _ in range(2))
        same = same and first["digest"] == second["digest"]
        ratios.append(second["seconds"] / first["seconds"])
        print(f"repeat {repeat}: {first['rows']} rows, {first['tokens']:,} tokens; first trial "
              f"{first['seconds']:.2f} s (load + tokenise + write), second {second['seconds']:.3f} s (cache hit); "
              f"ratio {ratios[-1]:.4f}",
              flush=True)
    print(f"preprocess_cache: {statistics.median(ratios):.4f} (target <= 0.05; second trial / first, median of "
          f"{args.repeats}, min {min(ratios):.4f}; {args.rows} {args.task} {args.split} rows at max length "
          f"{args.max_length}; rows identical: {same})")


def _in_fresh_process(args: argparse.Namespace, cache_dir: str) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(timed_trial, (vars(args), cache_dir))


def timed_trial(options: dict[str, Any], cache_dir: str) -> dict[str, Any]:
    """One trial's preprocessing in this process: seconds of `encoded`, row and token counts, a digest of the rows."""
    import time

    os.environ["RAYTL_CACHE_DIR"] = cache_dir
    from raytl.pipeline.context import encoded
    from raytl.tasks import TASKS

    worker = _worker(options, Path(cache_dir))
    _ = worker.tokenizer  # untimed: built (tiny) or downloaded (hub) for the model in every trial
    start = time.perf_counter()
    _, rows = encoded(worker, TASKS[options["task"]], options["split"], "en", options["max_length"])
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    return {"seconds": seconds, "rows": len(rows), "tokens": sum(len(r["input_ids"]) for r in rows), "digest": digest}


def _worker(options: dict[str, Any], root: Path):
    from raytl.config import parse_space
    from raytl.pipeline.context import TrialContext
    from raytl.pipeline.phase_id import TrialParams
    from raytl.pipeline.run_dir import RunDir
    from raytl.training.distributed import Ranks

    phase = {"lr": {"low": 1e-3, "high": 1e-3}, "max_steps": 1, "max_length": options["max_length"]}
    space = parse_space({
        "name": "preprocess-cache", "storage": str(root / "runs"), "models": [options["model"]],
        "intermediate_tasks": ["none"], "targets": [options["task"]], "intermediate": phase, "target": phase,
        "data": {"source": "generated", "generated_train_size": options["rows"],
                 "generated_eval_size": options["rows"]},
    })
    params = TrialParams(options["model"], "none", 0.0, 1e-3)
    return TrialContext(space, params, Ranks(0, 1), RunDir(root / "run"), "t0")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench preprocess_cache", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="generated rows of the split")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--task", default="xnli", help="a target task (generated data in its real schema)")
    parser.add_argument("--split", default="train", choices=["train", "validation", "test"])
    parser.add_argument("--model", default="tiny", help="model zoo entry whose tokenizer is used")
    parser.add_argument("--repeats", type=int, default=3, help="fresh cache directory each; median reported")
    return parser.parse_args(argv)
