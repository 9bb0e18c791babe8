"""Masked language modelling on multilingual text: the paper's ablation of continued MLM in the intermediate phase.

Text is tokenised, concatenated (documents separated by `</s>`) and cut into `<s> block </s>` rows of max length, so
no token is padded or lost. Masking is static and seeded (15% of tokens: 80% `<mask>`, 10% a random token, 10%
kept), which keeps dev scores comparable across trials. The head is RoBERTa's LM head with its own decoder (not
tied to the input embeddings: tying across the encoder/head boundary would break ZeRO-3's parameter gathering).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from raytl.tasks.entry import Task
from raytl.tasks.formats.base import IGNORE_INDEX, Batch, EncoderConfig, Format
from raytl.tasks.generate import lexicon, stable_seed

if TYPE_CHECKING:  # datasets loads only where rows are read: the GPU benchmark runs without it
    from datasets import Dataset


class MaskedLMHead(nn.Module):
    def __init__(self, hidden_size: int, vocab_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, hidden_states: torch.Tensor, batch: Batch) -> torch.Tensor:
        logits = self.decoder(self.layer_norm(nn.functional.gelu(self.dense(hidden_states))))
        # in evaluation only the predicted ids leave the head: gathering [tokens x 250k] logits would not fit
        return logits if self.training else logits.argmax(-1)


@dataclass(frozen=True)
class MaskedLM(Format):
    mask_probability: float = 0.15
    name = "mlm"
    canonical_columns = ("text",)
    batch_columns = ("labels",)
    target_phase = "train"

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        words = lexicon(lang)
        return [{"text": " ".join(rng.choice(words) for _ in range(rng.randint(6, 20)))} for _ in range(count)]

    def encode(self, examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, task: Task) -> Dataset:
        from datasets import Dataset  # at run time only here: the module imports without datasets

        stream: list[int] = []
        for ids in tokenizer(list(examples["text"]), add_special_tokens=False)["input_ids"]:
            stream += [*ids, tokenizer.eos_token_id]
        block = max_length - 2
        rows = [[tokenizer.bos_token_id, *stream[i : i + block], tokenizer.eos_token_id]
                for i in range(0, len(stream), block)]
        rng = np.random.default_rng(stable_seed("mlm", task.name, len(stream)) % 2**32)
        masked = [self._mask(np.asarray(row), tokenizer, rng) for row in rows]
        return Dataset.from_dict({"input_ids": [m[0] for m in masked], "labels": [m[1] for m in masked]})

    def _mask(self, row: np.ndarray, tokenizer: PreTrainedTokenizerBase, rng: np.random.Generator):
        inner = np.arange(1, len(row) - 1)  # never <s> or the final </s>
        chosen = inner[rng.random(len(inner)) < self.mask_probability]
        labels = np.full(len(row), IGNORE_INDEX)
        labels[chosen] = row[chosen]
        roll = rng.random(len(chosen))
        row = row.copy()
        row[chosen[roll < 0.8]] = tokenizer.mask_token_id
        random_positions = chosen[(roll >= 0.8) & (roll < 0.9)]
        row[random_positions] = rng.integers(len(tokenizer.all_special_ids), len(tokenizer), len(random_positions))
        return row.tolist(), labels.tolist()

    def head(self, config: EncoderConfig, task: Task) -> nn.Module:
        return MaskedLMHead(config.hidden_size, config.vocab_size)

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(),
                                           ignore_index=IGNORE_INDEX)

    def decode(self, logits: list[torch.Tensor], features: Any, examples: Dataset, task: Task,
               threshold: float | None = None) -> list[Any]:
        """The predicted token id at every masked position of every row (the head returns ids in evaluation)."""
        return [_at_masks(ids.tolist(), row["labels"]) for ids, row in zip(logits, features, strict=True)]

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> list[Any]:
        if features is None:
            raise ValueError("masked LM references come from the encoded rows: pass `features`")
        return [_at_masks(row["labels"], row["labels"]) for row in features]

    def submission(self, predictions: list[Any], examples: Dataset) -> tuple[str, str]:
        return ".tsv", "".join(" ".join(map(str, ids)) + "\n" for ids in predictions)


def _at_masks(values: list[int], labels: list[int]) -> list[int]:
    return [value for value, label in zip(values, labels, strict=False) if label != IGNORE_INDEX]


FORMAT = MaskedLM()
