"""`bench gpu`'s mining and search parts: margin mining on the card against one product there, and a 2-trial
`raytl search` with a Large-shaped model where Ray is installed."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from bench.retrieval import compare, embeddings
from raytl.models.task_model import random_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.tasks.sentence_retrieval import mine_pairs

MINING_DIM = 1024  # XLM-R Large's hidden size: what BUCC embeds with
CHECK_ROWS = 5000  # pairs mined on the card and on the CPU are compared on this many sentences per side


def mining(args: argparse.Namespace, cuda: bool) -> str:
    """Time `mine_pairs` on the device against one n x n x d float32 product there (min of 3 each), and check its
    pairs against the CPU's on the first CHECK_ROWS sentences."""
    n, dim = args.mining_n, 64 if args.smoke else MINING_DIM
    x, y = embeddings(n, dim, seed=0)
    device = torch.device("cuda" if cuda else "cpu")
    queries, keys = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    floor = _product_seconds(queries, keys, cuda)
    ours = _best_of(3, lambda: mine_pairs(queries, keys), cuda)
    rows = min(n, CHECK_ROWS)
    same, _ = compare(mine_pairs(queries[:rows], keys[:rows]), mine_pairs(x[:rows], y[:rows]))
    line = (f"{ours / floor:.2f} x one product on the {'card' if cuda else 'CPU'} (n={n:,}, d={dim}: "
            f"{ours:.3f} s against {floor:.3f} s; pairs on {rows:,} sentences identical to the CPU's: {same})")
    print(f"mining: {line}", flush=True)
    return line


def _product_seconds(queries: torch.Tensor, keys: torch.Tensor, cuda: bool) -> float:
    """The floor: one n x n x d product into an output allocated beforehand (freed on return), min of 3."""
    product = torch.empty(len(queries), len(keys), device=queries.device)
    return _best_of(3, lambda: torch.mm(queries, keys.T, out=product), cuda)


def _best_of(repeats: int, fn: Callable[[], Any], cuda: bool) -> float:
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def search(args: argparse.Namespace, cuda: bool) -> str:
    """A 2-trial `raytl search` (baseline, then MNLI as intermediate task) of a Large-shaped model (tiny4 with
    --smoke) with random weights, on generated data, through the CLI; where Ray or Optuna is missing, says so."""
    missing = [name for name in ("ray", "optuna", "datasets") if not _installed(name)]
    if missing:
        return f"skipped ({', '.join(missing)} not installed)"
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        root = Path(tmp)
        model = write_model_dir(root / "model", "tiny4" if args.smoke else "large")
        space = root / "space.yaml"
        space.write_text(yaml.safe_dump(search_space(f"hub:{model}", root / "runs", args.workers, cuda)))
        started = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "raytl", "search", str(space)], capture_output=True,
                                  text=True, timeout=args.search_timeout)
        except subprocess.TimeoutExpired:
            return f"FAILED (not done after {args.search_timeout} s, --search-timeout)"
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"FAILED (exit {done.returncode} after {seconds:.0f} s: {tail[0][:200]})"
    completed = sum("completed" in line.split() for line in done.stdout.splitlines())
    shape = "tiny4" if args.smoke else "large"
    return (f"2 trials of a {shape}-shaped model on {'nccl' if cuda else 'gloo'}: exit 0 in {seconds:.0f} s, "
            f"{completed} completed in the results table")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses the name (the tests' stand-in for a machine without it)
        return False


def write_model_dir(directory: Path, shape: str) -> Path:
    """A Hugging Face model directory of the zoo shape with seeded random weights (bf16 on disk) and the tiny
    tokenizer: what `hub:<directory>` loads like a downloaded checkpoint."""
    entry, tokenizer = ZOO[shape], load_tokenizer(ZOO["tiny"])
    encoder = random_encoder(entry, entry.vocab_size or len(tokenizer), seed=0)
    encoder.to(torch.bfloat16).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def search_space(model: str, storage: Path, workers: int, cuda: bool) -> dict[str, Any]:
    phase = {"lr": {"low": 1.0e-5, "high": 3.0e-5}, "max_steps": 10, "batch_size": 32, "max_length": 128,
             "eval_every": 10}
    return {
        "name": "bench-gpu", "storage": str(storage), "models": [model], "intermediate_tasks": ["none", "mnli"],
        "targets": ["xnli"], "intermediate": phase, "target": phase,
        "data": {"source": "generated", "generated_train_size": 512, "generated_eval_size": 32},
        "resources": {"num_workers": workers, "cpus_per_worker": 2, "gpus_per_worker": 1 if cuda else 0},
        "deepspeed": {"zero_stage": 2},
        "search": {"algorithm": "optuna", "num_trials": 2, "max_concurrent_trials": 1, "seed": 0,
                   "points_to_evaluate": [{"model": model, "intermediate": "none", "lr_target": 2.0e-5},
                                          {"model": model, "intermediate": "mnli", "lr_intermediate": 2.0e-5,
                                           "lr_target": 2.0e-5}]},
        "scheduler": {"type": "none"},
    }
