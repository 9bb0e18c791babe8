"""Sentence retrieval (Tatoeba, BUCC 2018): no training; the encoder's mean-pooled sentence embeddings are used
directly. Tatoeba takes each English sentence's nearest non-English one (accuracy); BUCC mines pairs with the ratio
margin and keeps those above a threshold fitted on the dev ("sample") gold (pair F1). Which protocol a task uses
follows from its metric (`PROTOCOLS`).

Canonical rows: `source_id, source, target_id, target`, one row per sentence pair; a BUCC distractor has an empty
other side. Tatoeba rows have no ids: line i of one side translates line i of the other.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from raytl.tasks.entry import Task
from raytl.tasks.generate import N_CONCEPTS, lexicon
from raytl.tasks.sentence_retrieval import dedup_sentences, fit_threshold, mine_pairs, nearest_neighbours, pairs_to_ids


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


class Retrieval:
    name = "retrieval"
    canonical_columns = ("source_id", "source", "target_id", "target")
    batch_columns: tuple[str, ...] = ()
    trains = False

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        """Translation pairs (the same concepts rendered in `lang` and English); BUCC adds distractors."""
        source_words, english = lexicon(lang), lexicon("en")
        rows = []
        for i in range(count):
            concepts = [rng.randrange(N_CONCEPTS) for _ in range(rng.randint(5, 12))]
            row = {"source_id": f"{lang}-{i:06d}", "source": " ".join(source_words[c] for c in concepts),
                   "target_id": f"en-{i:06d}", "target": " ".join(english[c] for c in concepts)}
            if PROTOCOLS[task.metric].distractors and rng.random() < 0.3:
                row["source_id" if i % 2 else "target_id"] = ""
                row["source" if i % 2 else "target"] = ""
            rows.append(row)
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
        """One row per unique sentence: `<s> tokens </s>`, with its side (0 source, 1 target) and position."""
        corpus = self.corpus(examples)
        texts = corpus.source.texts + corpus.target.texts
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
        sides = [0] * len(corpus.source.texts) + [1] * len(corpus.target.texts)
        return Dataset.from_dict({"input_ids": encoded["input_ids"], "side": sides})

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> list[Any]:
        return sorted(self.corpus(examples).gold) if PROTOCOLS[task.metric].distractors else list(range(len(examples)))

    def submission(self, predictions: list[Any], examples: Dataset) -> tuple[str, str]:
        if predictions and isinstance(predictions[0], tuple):
            return ".tsv", "".join(f"{source}\t{target}\n" for source, target in predictions)
        return ".tsv", "".join(f"{index}\n" for index in predictions)


def _side(pairs: list[tuple[str, str]], dedup: bool) -> Side:
    kept = [(sentence_id, text) for sentence_id, text in pairs if text]
    ids, texts = [p[0] for p in kept], [p[1] for p in kept]
    if not dedup:
        return Side(texts, list(ids))
    unique, owners = dedup_sentences(ids, texts)
    return Side(unique, owners)


def tatoeba_predict(corpus: Corpus, src: np.ndarray, trg: np.ndarray, threshold: float | None) -> list[Any]:
    """For each English sentence, the row of its nearest non-English sentence (xtreme.md's Tatoeba protocol)."""
    return [int(corpus.source.ids[i]) for i in nearest_neighbours(trg, src)]


def bucc_predict(corpus: Corpus, src: np.ndarray, trg: np.ndarray, threshold: float | None) -> list[Any]:
    """Mined (source id, target id) pairs scoring above the dev-fitted threshold."""
    candidates = pairs_to_ids(mine_pairs(src, trg, k=4), corpus.source.ids, corpus.target.ids)
    return [(s, t) for s, t, score in candidates if threshold is None or score > threshold]


def bucc_threshold(corpus: Corpus, src: np.ndarray, trg: np.ndarray) -> float:
    candidates = pairs_to_ids(mine_pairs(src, trg, k=4), corpus.source.ids, corpus.target.ids)
    return fit_threshold(candidates, corpus.gold)


@dataclass(frozen=True)
class Protocol:
    predict: Callable[[Corpus, np.ndarray, np.ndarray, float | None], list[Any]]
    fit: Callable[[Corpus, np.ndarray, np.ndarray], float] | None
    distractors: bool


PROTOCOLS = {
    "accuracy": Protocol(tatoeba_predict, None, distractors=False),
    "bucc_f1": Protocol(bucc_predict, bucc_threshold, distractors=True),
}

FORMAT = Retrieval()
