"""Shared pieces of the training benchmarks: the tiny XLM-R classification model, synthetic rows, Ray start-up.

Rows are synthetic token ids (`<s> ... </s>`, uniform over the tiny tokenizer's ordinary tokens): timings depend
on shapes, not on what the tokens say.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

import numpy as np
import torch

from raytl.models.task_model import TaskModel, build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS

TASK = "xnli"  # a 3-label sentence-pair classification head, as on XNLI
FIRST_ORDINARY_ID = 5  # after the five specials (<s>, <pad>, </s>, <unk>, <mask>)


def task_model(model: str, seed: int) -> tuple[TaskModel, int, int]:
    """(a seeded TaskModel with a classification head, pad id, vocabulary size); identical in every process."""
    entry, tokenizer = ZOO[model], load_tokenizer(ZOO[model])
    encoder = build_encoder(entry, tokenizer, seed)
    head = FORMATS[TASKS[TASK].format].head(encoder.config, TASKS[TASK])
    return TaskModel(encoder, head), tokenizer.pad_token_id, len(tokenizer)


def synthetic_rows(lengths: Sequence[int], vocab: int, seed: int) -> list[dict]:
    """One row per length, in the shape formats' `encode` produces: `input_ids` (bos ... eos) and `labels`."""
    rng = np.random.default_rng(seed)
    rows = []
    for length in lengths:
        ids = rng.integers(FIRST_ORDINARY_ID, vocab, size=int(length))
        ids[0], ids[-1] = 0, 2
        rows.append({"input_ids": ids.tolist(), "labels": int(rng.integers(len(TASKS[TASK].labels)))})
    return rows


def loss_fn(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return FORMATS[TASKS[TASK].format].loss(logits, batch)


def start_ray(cpus: int) -> None:
    """A private local Ray (never another engineer's cluster), no dashboard."""
    import ray

    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")  # only shortens the wait for the final report
    if not ray.is_initialized():
        os.environ.pop("RAY_ADDRESS", None)
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)


def summary(values: Sequence[float], unit: str) -> str:
    return f"min {min(values):.2f}, median {statistics.median(values):.2f} {unit} over {len(values)}"
