"""Multiple choice (HellaSwag, CosmosQA, CommonsenseQA): every (prompt, choice) pair scored jointly.

One feature per example with `input_ids` [choices][tokens] (prompt as A, choice as B); the model flattens it to
[rows * choices, tokens] and the head folds the scores back to [rows, choices] for a softmax over the choices.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from raytl.tasks.entry import Task
from raytl.tasks.formats.base import Batch, EncoderConfig, Format
from raytl.tasks.generate import cue_concepts, filler, lexicon

if TYPE_CHECKING:  # datasets loads only where rows are read: the GPU benchmark runs without it
    from datasets import Dataset


class ChoiceHead(nn.Module):
    """One score per choice from its first token, folded to [rows, choices] using the batch's input_ids shape."""

    def __init__(self, hidden_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(hidden_size, 1)

    def forward(self, hidden_states: torch.Tensor, batch: Batch) -> torch.Tensor:
        rows, choices = batch["input_ids"].shape[:2]
        return self.score(self.dropout(hidden_states[:, 0])).view(rows, choices)


class MultipleChoice(Format):
    name = "multiple_choice"
    canonical_columns = ("prompt", "choices", "label")
    batch_columns = ("labels",)
    target_phase = "train"

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        """The correct choice holds one of the world's cue concepts, the distractors none; all choices open with one
        shared lead word (as HellaSwag's endings share `ctx_b`)."""
        cues = cue_concepts(task.world, 1)[0]
        avoid, words = set(cues), lexicon(lang)
        rows = []
        for _ in range(count):
            label, lead = rng.randrange(len(task.labels)), filler(rng, lang, 1, avoid)
            choices = [lead + filler(rng, lang, rng.randint(2, 5), avoid) for _ in task.labels]
            choices[label].insert(rng.randint(1, len(choices[label])), words[rng.choice(cues)])
            prompt = filler(rng, lang, rng.randint(5, 12), avoid)
            rows.append({"prompt": " ".join(prompt), "choices": [" ".join(c) for c in choices], "label": label})
        return rows

    def encode(self, examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, task: Task) -> Dataset:
        def tokenize(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
            prompts = [prompt for prompt, choices in zip(batch["prompt"], batch["choices"], strict=True)
                       for _ in choices]
            pairs = [choice for choices in batch["choices"] for choice in choices]
            flat = tokenizer(prompts, pairs, truncation="longest_first", max_length=max_length)["input_ids"]
            grouped, start = [], 0
            for choices in batch["choices"]:
                grouped.append(flat[start : start + len(choices)])
                start += len(choices)
            return {"input_ids": grouped, "labels": batch["label"]}

        return examples.map(tokenize, batched=True, remove_columns=examples.column_names)

    def head(self, config: EncoderConfig, task: Task) -> nn.Module:
        return ChoiceHead(config.hidden_size)

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), batch["labels"])

    def decode(self, logits: list[torch.Tensor], features: Dataset, examples: Dataset, task: Task,
               threshold: float | None = None) -> list[Any]:
        """The index of the best-scoring choice per example."""
        return [int(row.argmax()) for row in logits]

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> list[Any]:
        return list(examples["label"])

    def submission(self, predictions: list[Any], examples: Dataset) -> tuple[str, str]:
        """One chosen index per line (no XTREME task is multiple choice: for inspection only)."""
        return ".tsv", "".join(f"{index}\n" for index in predictions)


FORMAT = MultipleChoice()
