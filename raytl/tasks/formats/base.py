"""The one contract every format implements; dispatch is a plain mapping from a task's `format` to its module.

Every format subclasses `Format` (as Optuna's samplers share one base) and `tests/format_contract.py` runs the
whole contract on each of them: generate -> encode -> head -> loss -> calibrate -> decode -> metric -> submission.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch
from transformers import PreTrainedTokenizerBase

from raytl.tasks.entry import Task

if TYPE_CHECKING:  # datasets loads only where rows are read: the GPU benchmark runs without it
    from datasets import Dataset

IGNORE_INDEX = -100  # torch's cross-entropy skips it: padding, sub-words after the first, unmasked MLM tokens

Batch = dict[str, torch.Tensor]
IGNORE_INDEX = -100  # what torch's cross-entropy skips: per-token labels of padding, special tokens, sub-words

TargetPhase = Literal["train", "embed"]
"""How a target task of a format is run after the intermediate phase: `train` fine-tunes encoder and head with
`loss`, then decodes the head's logits; `embed` trains nothing: the head pools the encoder's hidden states into one
embedding per row and `decode` retrieves with those (the pipeline maps each kind to its phase function)."""


class EncoderConfig(Protocol):
    """What a head needs to know of its encoder (a Hugging Face config satisfies it)."""

    hidden_size: int
    vocab_size: int


class Format(Protocol):
    """How one kind of task is generated, encoded, modelled, decoded and referenced for its metric."""

    name: str
    canonical_columns: tuple[str, ...]
    batch_columns: tuple[str, ...]  # feature columns the loss needs besides input_ids (e.g. labels)
    target_phase: TargetPhase

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        """Canonical rows with learnable signal (see `raytl.tasks.generate`); the same `rng` state, the same rows."""
        ...

    def encode(self, examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, task: Task) -> Dataset:
        """Tokenised features: `input_ids`, the `batch_columns`, and whatever `decode` needs (e.g. offsets and an
        `example_index` when one example becomes several windows)."""
        ...

    def head(self, config: EncoderConfig, task: Task) -> torch.nn.Module:
        """A fresh task head: `forward(hidden_states, batch) -> logits` (for `embed`: one pooled embedding per row)."""
        ...

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        """The training loss; an `embed` format is never trained and raises `TypeError` naming itself."""
        ...

    def calibrate(self, logits: Sequence[torch.Tensor], features: Any, examples: Dataset, task: Task
                  ) -> float | None:
        """A decision threshold fitted on dev data (BUCC's mining margin), which `decode` then takes on dev and
        test alike; only ever called on the `validation` split. None: this format decodes without one."""
        return None

    def decode(self, logits: Sequence[torch.Tensor], features: Any, examples: Dataset, task: Task,
               threshold: float | None = None) -> Any:
        """Predictions per example, spelled as XTREME's submission files spell them; `threshold` is what
        `calibrate` fitted on dev (ignored by formats that fit none)."""
        ...

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> Any:
        """Gold values in the metric's shape; `features` (the encoded rows) for formats whose gold is made while
        encoding (masked LM)."""
        ...

    def submission(self, predictions: Any, examples: Dataset) -> tuple[str, str]:
        """(file suffix, file text) of one language's predictions in XTREME's submission layout."""
        ...
