"""The one contract every format implements; dispatch is a plain mapping from a task's `format` to its module."""

from __future__ import annotations

import random
from typing import Any, Protocol

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from raytl.tasks.entry import Task

IGNORE_INDEX = -100  # torch's cross-entropy skips it: padding, sub-words after the first, unmasked MLM tokens

Batch = dict[str, torch.Tensor]
IGNORE_INDEX = -100  # what torch's cross-entropy skips: per-token labels of padding, special tokens, sub-words


class EncoderConfig(Protocol):
    """What a head needs to know of its encoder (a Hugging Face config satisfies it)."""

    hidden_size: int
    vocab_size: int


class Format(Protocol):
    """How one kind of task is generated, encoded, modelled, decoded and referenced for its metric."""

    name: str
    canonical_columns: tuple[str, ...]
    batch_columns: tuple[str, ...]  # feature columns the loss needs besides input_ids (e.g. labels)
    trains: bool  # False for retrieval: the encoder's embeddings are used directly

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        """Canonical rows with learnable signal (see `raytl.tasks.generate`)."""
        ...

    def encode(self, examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, task: Task) -> Dataset:
        """Tokenised features: `input_ids`, the `batch_columns`, and whatever `decode` needs (e.g. offsets and an
        `example_index` when one example becomes several windows)."""
        ...

    def head(self, config: EncoderConfig, task: Task) -> torch.nn.Module:
        """A fresh task head: `forward(hidden_states, batch) -> logits`."""
        ...

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor: ...

    def decode(self, logits: list[torch.Tensor], features: Dataset, examples: Dataset, task: Task) -> list[Any]:
        """Predictions per example, spelled as XTREME's submission files spell them."""
        ...

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> list[Any]:
        """Gold values in the metric's shape; `features` (the encoded rows) for formats whose gold is made while
        encoding (masked LM)."""
        ...

    def submission(self, predictions: list[Any], examples: Dataset) -> tuple[str, str]:
        """(file suffix, file text) of one language's predictions in XTREME's submission layout."""
        ...
