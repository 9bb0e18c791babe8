"""Token tagging (UD-POS, PAN-X, CCG): a linear layer per token, trained and read on each word's first sub-word.

A sentence longer than `max_length` sub-words is split at word boundaries into several features and re-joined at
decode, never truncated: XTREME scores every word. Each feature keeps `example_index`, `segment` (its order within
the example), `word_start` (its first word) and `word_positions` (the token position of each of its words).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from raytl.tasks.entry import Task
from raytl.tasks.formats.base import IGNORE_INDEX, Batch, EncoderConfig, Format
from raytl.tasks.generate import cue_concepts, lexicon

if TYPE_CHECKING:  # datasets loads only where rows are read: the GPU benchmark runs without it
    from datasets import Dataset

LONG_SHARE = 0.05  # generated sentences longer than the quickstart's max_length, to exercise segmenting
LONG_WORDS = (50, 90)
SHORT_WORDS = (4, 14)


class TokenHead(nn.Module):
    """Dropout, then one linear projection per token: [..., tokens, hidden] -> [..., tokens, labels]."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden_states: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.out_proj(self.dropout(hidden_states))


def segments(lengths: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Greedy [start, end) word ranges whose sub-word counts fit `budget`; a word never straddles two ranges.

    >>> segments([3, 2, 4, 1], budget=5)
    [(0, 2), (2, 4)]
    """
    ranges, start, used = [], 0, 0
    for index, length in enumerate(lengths):
        if used + length > budget and index > start:
            ranges.append((start, index))
            start, used = index, 0
        used += length
    ranges.append((start, len(lengths)))
    return ranges


def word_pieces(word_ids: Iterable[int | None], input_ids: Sequence[int], words: int, unk_id: int) -> list[list[int]]:
    """Sub-word ids of every word; a word the tokenizer drops entirely (e.g. a lone zero-width space) becomes `unk`."""
    pieces: list[list[int]] = [[] for _ in range(words)]
    for word, token in zip(word_ids, input_ids, strict=True):
        if word is not None:
            pieces[word].append(token)
    return [piece or [unk_id] for piece in pieces]


def _features(pieces: list[list[int]], tags: list[int], example: int, tokenizer: PreTrainedTokenizerBase,
              max_length: int) -> list[dict[str, Any]]:
    budget = max_length - 2  # <s> ... </s>
    pieces = [piece[:budget] for piece in pieces]  # a word longer than a whole window keeps its labelled start
    rows = []
    for segment, (start, end) in enumerate(segments([len(p) for p in pieces], budget)):
        input_ids, labels, positions = [tokenizer.cls_token_id], [IGNORE_INDEX], []
        for piece, tag in zip(pieces[start:end], tags[start:end], strict=True):
            positions.append(len(input_ids))
            input_ids += piece
            labels += [tag] + [IGNORE_INDEX] * (len(piece) - 1)
        rows.append({"input_ids": input_ids + [tokenizer.sep_token_id], "labels": labels + [IGNORE_INDEX],
                     "example_index": example, "segment": segment, "word_start": start, "word_positions": positions})
    return rows


def _tag_sequence(labels: Sequence[str], length: int, rng: random.Random) -> list[int]:
    """Random tags that respect IOB2 (an I-X follows B-X or I-X); other tag sets are unconstrained."""
    tags: list[int] = []
    for _ in range(length):
        tag = rng.randrange(len(labels))
        name = labels[tag]
        if name.startswith("I-") and f"B-{name[2:]}" in labels:
            previous = labels[tags[-1]] if tags else "O"
            if previous[2:] != name[2:] or previous[:2] not in ("B-", "I-"):
                tag = labels.index(f"B-{name[2:]}")
        tags.append(tag)
    return tags


def _unambiguous(cues: list[list[int]], words: Sequence[str]) -> list[list[int]]:
    """Cue concepts whose surface form no other cue shares (the lexicon has homographs), so a word fixes its tag."""
    counts = Counter(words[concept] for group in cues for concept in group)
    return [[concept for concept in group if counts[words[concept]] == 1] or group for group in cues]


class Tagging(Format):
    name = "tagging"
    canonical_columns = ("tokens", "tags")
    batch_columns = ("labels",)
    target_phase = "train"

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        """Each word is a cue concept of its tag's class: the tag is learnable from the word and transfers through
        the lexicon's cognates. About LONG_SHARE of the sentences exceed a 64-token window."""
        words = lexicon(lang)
        cues = _unambiguous(cue_concepts(task.world, len(task.labels)), words)
        rows = []
        for _ in range(count):
            length = rng.randint(*(LONG_WORDS if rng.random() < LONG_SHARE else SHORT_WORDS))
            tags = _tag_sequence(task.labels, length, rng)
            rows.append({"tokens": [words[rng.choice(cues[tag])] for tag in tags], "tags": tags})
        return rows

    def encode(self, examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, task: Task) -> Dataset:
        def tokenize(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
            encoded = tokenizer(batch["tokens"], is_split_into_words=True, add_special_tokens=False)
            rows = []
            for row, (tokens, tags, example) in enumerate(zip(batch["tokens"], batch["tags"], indices, strict=True)):
                pieces = word_pieces(encoded.word_ids(row), encoded["input_ids"][row], len(tokens),
                                     tokenizer.unk_token_id)
                rows += _features(pieces, tags, example, tokenizer, max_length)
            return {key: [r[key] for r in rows] for key in FEATURE_COLUMNS}

        return examples.map(tokenize, batched=True, with_indices=True, remove_columns=examples.column_names)

    def head(self, config: EncoderConfig, task: Task) -> nn.Module:
        return TokenHead(config.hidden_size, len(task.labels))

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        # collate pads labels to the width of input_ids, so logits and labels line up token for token
        return nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(),
                                           ignore_index=IGNORE_INDEX)

    def decode(self, logits: list[torch.Tensor], features: Dataset, examples: Dataset, task: Task,
               threshold: float | None = None) -> list[Any]:
        """Tag names per word, segments re-joined in word order; every word of every example gets exactly one."""
        words: list[list[str | None]] = [[None] * len(tokens) for tokens in examples["tokens"]]
        for feature, logit in zip(features, logits, strict=True):
            predicted = logit[feature["word_positions"]].argmax(-1).tolist()
            for offset, tag in enumerate(predicted):
                words[feature["example_index"]][feature["word_start"] + offset] = task.labels[tag]
        missing = [i for i, sentence in enumerate(words) if None in sentence]
        if missing:
            raise ValueError(f"task '{task.name}': no prediction for some words of example {missing[0]}")
        return words

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> list[Any]:
        return [[task.labels[tag] for tag in tags] for tags in examples["tags"]]

    def submission(self, predictions: list[Any], examples: Dataset) -> tuple[str, str]:
        """One tag per line, a blank line after each sentence (XTREME's layout for UD-POS and PAN-X)."""
        return ".tsv", "".join("".join(f"{tag}\n" for tag in sentence) + "\n" for sentence in predictions)


FEATURE_COLUMNS = ("input_ids", "labels", "example_index", "segment", "word_start", "word_positions")
FORMAT = Tagging()
