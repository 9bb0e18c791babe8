"""Sentence retrieval (Tatoeba, BUCC 2018): never trained; the encoder's mean-pooled sentence embeddings are used
directly (`target_phase = "embed"`). Two variants, each a format of its own, so that a task's catalog entry declares
its protocol: `nearest_neighbour` (Tatoeba) takes each English sentence's nearest non-English one (accuracy);
`bitext_mining` (BUCC) mines pairs with the ratio margin and keeps those above a threshold that `calibrate` fits on
the dev ("sample") gold (pair F1).

Canonical rows: one row per sentence pair. BUCC's are `source_id, source, target_id, target`, a distractor having an
empty other side; Tatoeba's are `source, target` without ids: line i of one side translates line i of the other.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from raytl.tasks.entry import Task
from raytl.tasks.formats.base import Batch, EncoderConfig, Format
from raytl.tasks.generate import N_CONCEPTS, lexicon
from raytl.tasks.sentence_retrieval import (
    dedup_sentences,
    fit_threshold,
    mean_pool,
    mine_pairs,
    nearest_neighbours,
    pairs_to_ids,
)

if TYPE_CHECKING:  # datasets loads only where rows are read: the GPU benchmark runs without it
    from datasets import Dataset

MINING_NEIGHBOURS = 4  # k of the ratio margin, as XTREME's BUCC mining


@dataclass(frozen=True)
class Side:
    """The unique sentences of one side and the id each stands for (None: a text under several ids)."""

    texts: list[str]
    ids: list[str | None]


@dataclass(frozen=True)
class Corpus:
    source: Side
    target: Side
    gold: set[tuple[str, str]]


class MeanPooling(nn.Module):
    """The retrieval head: the mean of the hidden states over non-pad positions, in float32 (no parameters)."""

    def forward(self, hidden_states: torch.Tensor, batch: Batch) -> torch.Tensor:
        return mean_pool(hidden_states.float(), batch["attention_mask"].to(hidden_states.device))


class Retrieval(Format):
    """What both variants share: rows, corpus, encoding, pooling, no loss. A variant sets `name`, `canonical_columns`
    and `distractors` and defines `retrieve`, `references` and `submission` (and `calibrate` when it fits a
    threshold on dev)."""

    batch_columns: tuple[str, ...] = ()
    target_phase = "embed"
    distractors: bool  # generated data and the gold include sentences without a translation

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        """Translation pairs (the same concepts rendered in `lang` and English), with distractors for mining."""
        source_words, english = lexicon(lang), lexicon("en")
        rows = []
        for i in range(count):
            concepts = [rng.randrange(N_CONCEPTS) for _ in range(rng.randint(5, 12))]
            row = {"source_id": f"{lang}-{i:06d}", "source": " ".join(source_words[c] for c in concepts),
                   "target_id": f"en-{i:06d}", "target": " ".join(english[c] for c in concepts)}
            if self.distractors and rng.random() < 0.3:
                row["source_id" if i % 2 else "target_id"] = ""
                row["source" if i % 2 else "target"] = ""
            rows.append({column: row[column] for column in self.canonical_columns})
        return rows

    def corpus(self, examples: Dataset) -> Corpus:
        """Both sides (texts stripped: the hub's Tatoeba copy keeps trailing newlines) and the gold pairs. With ids
        (BUCC) identical sentences are de-duplicated; without (Tatoeba) row i of one side translates row i."""
        rows = examples.to_list()
        has_ids = "source_id" in examples.column_names
        src = [(r["source_id"] if has_ids else str(i), r["source"].strip()) for i, r in enumerate(rows)]
        trg = [(r["target_id"] if has_ids else str(i), r["target"].strip()) for i, r in enumerate(rows)]
        gold = {(s[0], t[0]) for s, t in zip(src, trg, strict=True) if s[1] and t[1]}
        return Corpus(_side(src, dedup=has_ids), _side(trg, dedup=has_ids), gold)

    def encode(self, examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, task: Task) -> Dataset:
        """One row per unique sentence: `<s> tokens </s>`, with its side (0 source, 1 target), sources first."""
        from datasets import Dataset  # at run time only here: the module imports without datasets

        corpus = self.corpus(examples)
        texts = corpus.source.texts + corpus.target.texts
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
        sides = [0] * len(corpus.source.texts) + [1] * len(corpus.target.texts)
        return Dataset.from_dict({"input_ids": encoded["input_ids"], "side": sides})

    def head(self, config: EncoderConfig, task: Task) -> nn.Module:
        return MeanPooling()

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        raise TypeError(f"format '{self.name}' is never trained (target_phase 'embed'): its targets are scored on "
                        "the encoder's pooled embeddings")

    def decode(self, logits: Sequence[torch.Tensor], features: Any, examples: Dataset, task: Task,
               threshold: float | None = None) -> list[Any]:
        """`logits` are the pooled embeddings of the encoded rows, in row order (a list or one matrix)."""
        corpus, src, trg = self.embedded(logits, features, examples)
        return self.retrieve(corpus, src, trg, threshold)

    @abstractmethod
    def retrieve(self, corpus: Corpus, src: torch.Tensor, trg: torch.Tensor, threshold: float | None) -> list[Any]:
        """The variant's protocol on the source and target embeddings: its predictions, as its submission spells
        them."""

    def embedded(self, logits: Sequence[torch.Tensor], features: Any, examples: Dataset
                 ) -> tuple[Corpus, torch.Tensor, torch.Tensor]:
        """The corpus and the embeddings of its source and target sentences."""
        embeddings = (logits if torch.is_tensor(logits) else torch.stack(tuple(logits))).float()  # a matrix: no copy
        sides = torch.as_tensor(np.array([row["side"] for row in features]))
        return self.corpus(examples), embeddings[sides == 0], embeddings[sides == 1]


class NearestNeighbour(Retrieval):
    """Tatoeba: for each English sentence, the row of its nearest non-English sentence by cosine."""

    name = "nearest_neighbour"
    canonical_columns = ("source", "target")
    distractors = False

    def retrieve(self, corpus: Corpus, src: torch.Tensor, trg: torch.Tensor, threshold: float | None) -> list[int]:
        return [int(corpus.source.ids[i]) for i in nearest_neighbours(trg, src)]

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> list[int]:
        return list(range(len(examples)))

    def submission(self, predictions: list[int], examples: Dataset) -> tuple[str, str]:
        return ".tsv", "".join(f"{index}\n" for index in predictions)


class BitextMining(Retrieval):
    """BUCC: margin-mined (source id, target id) pairs scoring above the threshold fitted on dev."""

    name = "bitext_mining"
    canonical_columns = ("source_id", "source", "target_id", "target")
    distractors = True

    def calibrate(self, logits: Sequence[torch.Tensor], features: Any, examples: Dataset, task: Task) -> float:
        """The mining score cut with the best F1 against this (dev) split's gold pairs."""
        corpus, src, trg = self.embedded(logits, features, examples)
        return fit_threshold(_candidates(corpus, src, trg), corpus.gold)

    def retrieve(self, corpus: Corpus, src: torch.Tensor, trg: torch.Tensor, threshold: float | None
                 ) -> list[tuple[str, str]]:
        if threshold is None:
            raise ValueError(f"{self.name}: decoding needs the threshold `calibrate` fits on dev data")
        return [(s, t) for s, t, score in _candidates(corpus, src, trg) if score > threshold]

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> list[tuple[str, str]]:
        return sorted(self.corpus(examples).gold)

    def submission(self, predictions: list[tuple[str, str]], examples: Dataset) -> tuple[str, str]:
        return ".tsv", "".join(f"{source}\t{target}\n" for source, target in predictions)


def _candidates(corpus: Corpus, src: torch.Tensor, trg: torch.Tensor) -> list[tuple[str, str, float]]:
    return pairs_to_ids(mine_pairs(src, trg, k=MINING_NEIGHBOURS), corpus.source.ids, corpus.target.ids)


def _side(pairs: list[tuple[str, str]], dedup: bool) -> Side:
    kept = [(sentence_id, text) for sentence_id, text in pairs if text]
    ids, texts = [p[0] for p in kept], [p[1] for p in kept]
    if not dedup:
        return Side(texts, list(ids))
    unique, owners = dedup_sentences(ids, texts)
    return Side(unique, owners)


NEAREST_NEIGHBOUR = NearestNeighbour()
BITEXT_MINING = BitextMining()
