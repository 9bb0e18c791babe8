"""Sentence and sentence-pair classification (MNLI, QQP, XNLI, PAWS-X, ...): a head on the `<s>` token."""

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

LABEL_NOISE = 0.05


class ClassificationHead(nn.Module):
    """The RoBERTa classification head: dense + tanh over the first token, then a projection."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden_states: torch.Tensor, batch: Batch) -> torch.Tensor:
        first = self.dropout(hidden_states[:, 0])
        return self.out_proj(self.dropout(torch.tanh(self.dense(first))))


class Classification(Format):
    name = "classification"
    canonical_columns = ("text_a", "text_b", "label")
    batch_columns = ("labels",)
    target_phase = "train"

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        cues = cue_concepts(task.world, len(task.labels))
        avoid = {concept for group in cues for concept in group}
        words = lexicon(lang)
        rows = []
        for _ in range(count):
            label = rng.randrange(len(task.labels))
            hypothesis = filler(rng, lang, rng.randint(3, 6), avoid)
            hypothesis.insert(rng.randint(0, len(hypothesis)), words[rng.choice(cues[label])])
            if rng.random() < LABEL_NOISE:
                label = rng.randrange(len(task.labels))
            premise = filler(rng, lang, rng.randint(5, 12), avoid)
            rows.append({"text_a": " ".join(premise), "text_b": " ".join(hypothesis), "label": label})
        return rows

    def encode(self, examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, task: Task) -> Dataset:
        def tokenize(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
            pair = batch.get("text_b")
            encoded = tokenizer(batch["text_a"], pair, truncation="longest_first", max_length=max_length)
            return {"input_ids": encoded["input_ids"], "labels": batch["label"]}

        return examples.map(tokenize, batched=True, remove_columns=examples.column_names)

    def head(self, config: EncoderConfig, task: Task) -> nn.Module:
        return ClassificationHead(config.hidden_size, len(task.labels))

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float(), batch["labels"])

    def decode(self, logits: list[torch.Tensor], features: Dataset, examples: Dataset, task: Task,
               threshold: float | None = None) -> list[Any]:
        return [task.labels[int(row.argmax())] for row in logits]

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> list[Any]:
        return [task.labels[label] for label in examples["label"]]

    def submission(self, predictions: list[Any], examples: Dataset) -> tuple[str, str]:
        return ".tsv", "".join(f"{label}\n" for label in predictions)


FORMAT = Classification()
