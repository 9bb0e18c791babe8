"""Extractive span QA (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): start/end logits over the context tokens.

Encoding is XLM-R's pair layout `<s> question </s></s> context </s>`, the question capped at `max_query_tokens`,
the context cut into overlapping windows. `doc_stride` is the step between window starts, as in BERT's and
XTREME's reference code (Hugging Face's `run_qa.py` passes it as the overlap instead); at short test lengths the
step shrinks to half a window so windows always overlap. A window that does not contain the answer, and an
unanswerable SQuAD v2 question, point start and end at index 0 (`<s>`).

Decoding takes the n-best start/end pairs of every window of an example (end not before start, at most
`max_answer_tokens` long), keeps the best, and slices its text from the context through the token offsets. For
SQuAD v2 the answer is "" when the null score (the smallest `start[0] + end[0]` over the windows) beats the best
span's score by more than `null_threshold`.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from raytl.tasks.entry import Task
from raytl.tasks.formats.base import Batch, EncoderConfig, Format
from raytl.tasks.generate import cue_concepts, filler, lexicon

if TYPE_CHECKING:  # datasets loads only where rows are read: the GPU benchmark runs without it
    from datasets import Dataset

NO_ANSWER_METRICS = frozenset({"squad_v2"})  # tasks scored with these may answer "" (SQuAD v2 unanswerables)
UNANSWERABLE_SHARE = 1 / 3  # of generated rows, for tasks that allow no answer (SQuAD v2 train has 33%)
LONG_CONTEXT_SHARE = 0.15  # of generated rows: 200-400 words, mostly more than one window at max length 384


def allows_no_answer(task: Task) -> bool:
    return task.metric in NO_ANSWER_METRICS


class SpanHead(nn.Module):
    """One linear layer from each token's hidden state to its (start, end) logits."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.qa_outputs = nn.Linear(hidden_size, 2)

    def forward(self, hidden_states: torch.Tensor, batch: Batch) -> torch.Tensor:
        return self.qa_outputs(hidden_states)


@dataclass(frozen=True)
class SpanQA(Format):
    """The span-QA format; the defaults are XTREME's QA settings."""

    max_query_tokens: int = 64
    doc_stride: int = 128
    max_answer_tokens: int = 30
    n_best: int = 20
    null_threshold: float = 0.0

    name = "span_qa"
    canonical_columns = ("id", "context", "question", "answers")
    batch_columns = ("start_positions", "end_positions")
    target_phase = "train"

    def generate(self, task: Task, lang: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
        """The answer is 1-3 answer-concept words between an opening and a closing cue concept of the task's world."""
        cues = cue_concepts(task.world, 3)
        unanswerable = UNANSWERABLE_SHARE if allows_no_answer(task) else 0.0
        return [_generated_row(f"{task.name}-{lang}-{i}", lang, cues, unanswerable, rng) for i in range(count)]

    def encode(self, examples: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, task: Task) -> Dataset:
        """One feature row per window: input_ids, start/end positions, example_index, offsets (see `_window`)."""

        def tokenize(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
            return self._windows(batch, indices, tokenizer, max_length)

        return examples.map(tokenize, batched=True, with_indices=True, remove_columns=examples.column_names)

    def head(self, config: EncoderConfig, task: Task) -> nn.Module:
        return SpanHead(config.hidden_size)

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Mean of the start and end cross-entropies; padding positions can never be chosen."""
        logits = logits.float().masked_fill(batch["attention_mask"].unsqueeze(-1) == 0, -1e4)
        start = nn.functional.cross_entropy(logits[..., 0], batch["start_positions"])
        end = nn.functional.cross_entropy(logits[..., 1], batch["end_positions"])
        return (start + end) / 2

    def decode(
        self, logits: Sequence[torch.Tensor], features: Iterable[Mapping[str, Any]], examples: Dataset, task: Task,
        threshold: float | None = None,
    ) -> dict[str, str]:
        """{question id: answer text}, what the QA metrics and XTREME's submission files take."""
        windows: dict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
        for logit, row in zip(logits, features, strict=True):
            length = len(row["input_ids"])  # predict pads rows of a batch to its longest
            windows[row["example_index"]].append((logit[:length].float().numpy(), unpack_offsets(row["offsets"])))
        no_answer = allows_no_answer(task)
        return {
            qid: self.answer(windows.get(index, []), context, no_answer)
            for index, (qid, context) in enumerate(zip(examples["id"], examples["context"], strict=True))
        }

    def references(self, examples: Dataset, task: Task, features: list[dict] | None = None) -> dict[str, list[str]]:
        return {qid: list(answers["text"]) for qid, answers in zip(examples["id"], examples["answers"], strict=True)}

    def submission(self, predictions: Mapping[str, str], examples: Dataset) -> tuple[str, str]:
        return ".json", json.dumps(dict(predictions), ensure_ascii=False)

    def answer(self, windows: Sequence[tuple[np.ndarray, np.ndarray]], context: str, no_answer: bool) -> str:
        """The best span's text over all windows ([tokens, 2] logits, [tokens, 2] offsets) of one example."""
        candidates = self.n_best_answers(windows, context)
        if not candidates:
            return ""
        best_score, best_text = candidates[0]
        if no_answer:
            null = min(float(logits[0, 0] + logits[0, 1]) for logits, _ in windows)
            if null - best_score > self.null_threshold:
                return ""
        return best_text

    def n_best_answers(self, windows: Sequence[tuple[np.ndarray, np.ndarray]], context: str) -> list[tuple[float, str]]:
        """Up to `n_best` (score, text) pairs, best first, over all windows; empty texts are left out."""
        found: list[tuple[float, str]] = []
        for logits, offsets in windows:
            for score, start, end in self._spans(logits, offsets):
                text = context[offsets[start, 0] : offsets[end, 1]].strip()
                if text:
                    found.append((score, text))
        return sorted(found, key=lambda candidate: -candidate[0])[: self.n_best]

    def _spans(self, logits: np.ndarray, offsets: np.ndarray) -> list[tuple[float, int, int]]:
        """Valid (score, start, end) pairs from the n-best starts and ends among one window's context tokens."""
        context = np.flatnonzero(offsets[:, 0] >= 0)
        if context.size == 0:
            return []
        starts = context[np.argsort(-logits[context, 0], kind="stable")[: self.n_best]]
        ends = context[np.argsort(-logits[context, 1], kind="stable")[: self.n_best]]
        return [
            (float(logits[s, 0] + logits[e, 1]), int(s), int(e))
            for s in starts
            for e in ends
            if s <= e < s + self.max_answer_tokens
        ]

    def _windows(
        self, batch: dict[str, list[Any]], indices: list[int], tokenizer: PreTrainedTokenizerBase, max_length: int
    ) -> dict[str, list[Any]]:
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        cap = min(self.max_query_tokens, (max_length - specials) // 2)  # short test lengths keep half for context
        questions = capped_questions(batch["question"], tokenizer, cap)
        lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
        by_length: dict[int, list[int]] = defaultdict(list)
        for position, length in enumerate(lengths):
            by_length[length].append(position)
        features: list[dict[str, Any]] = []
        for length, positions in by_length.items():
            window = max_length - specials - length
            if window < 2:
                raise ValueError(f"max_length {max_length} leaves {window} context tokens per window; allowed: >= 2")
            overlap = window - min(self.doc_stride, window // 2)
            encoded = tokenizer(
                [questions[p] for p in positions], [batch["context"][p] for p in positions],
                truncation="only_second", max_length=max_length, stride=overlap,
                return_overflowing_tokens=True, return_offsets_mapping=True,
            )
            for i, ids in enumerate(encoded["input_ids"]):
                p = positions[encoded["overflow_to_sample_mapping"][i]]
                offsets = _context_offsets(encoded["offset_mapping"][i], encoded.sequence_ids(i))
                features.append(_window(ids, offsets, batch["answers"][p], indices[p]))
        features.sort(key=lambda feature: feature["example_index"])  # stable: windows stay in context order
        return {key: [feature[key] for feature in features] for key in _FEATURE_KEYS}


_FEATURE_KEYS = ("input_ids", "start_positions", "end_positions", "example_index", "offsets")


def capped_questions(questions: Sequence[str], tokenizer: PreTrainedTokenizerBase, cap: int) -> list[str]:
    """Questions without leading blanks, cut after their `cap`-th token (XTREME's max query length)."""
    stripped = [question.lstrip() for question in questions]
    offsets = tokenizer(stripped, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return [q if len(spans) <= cap else q[: spans[cap - 1][1]] for q, spans in zip(stripped, offsets, strict=True)]


def _context_offsets(offsets: Sequence[tuple[int, int]], sequence_ids: Sequence[int | None]) -> np.ndarray:
    """[tokens, 2] character spans into the context; -1 for question and special tokens."""
    spans = np.asarray(offsets, dtype=np.int32).reshape(-1, 2)
    spans[np.asarray([sid != 1 for sid in sequence_ids])] = -1
    return spans


def _window(ids: list[int], offsets: np.ndarray, answers: Mapping[str, list], example_index: int) -> dict[str, Any]:
    start, end = answer_positions(offsets, answers)
    # offsets travel as int32 bytes: the pipeline turns features into Python lists, where a per-token list of
    # pairs would cost ~70 bytes a token on every worker
    return {"input_ids": ids, "start_positions": start, "end_positions": end, "example_index": example_index,
            "offsets": offsets.tobytes()}


def unpack_offsets(packed: bytes) -> np.ndarray:
    return np.frombuffer(packed, dtype=np.int32).reshape(-1, 2)


def answer_positions(offsets: np.ndarray, answers: Mapping[str, list]) -> tuple[int, int]:
    """Token indices of the first gold answer's first and last token; (0, 0) if the window does not hold it all."""
    if not answers["text"]:
        return 0, 0
    first = answers["answer_start"][0]
    last = first + len(answers["text"][0])
    context = np.flatnonzero(offsets[:, 0] >= 0)
    if context.size == 0 or offsets[context[0], 0] > first or offsets[context[-1], 1] < last:
        return 0, 0
    start = context[offsets[context, 0] <= first][-1]
    end = context[offsets[context, 1] >= last][0]
    return int(start), int(end)


def _generated_row(qid: str, lang: str, cues: list[list[int]], unanswerable: float, rng: random.Random) -> dict:
    """Filler words with `<opening cue> <1-3 answer concepts> <closing cue>` planted once (`cues` = opening,
    closing, answer concepts); the question names the opening cue. An unanswerable row plants only a closing cue."""
    words = lexicon(lang)
    opening, closing = rng.choice(cues[0]), rng.choice(cues[1])
    avoid = {cue for group in cues for cue in group}
    size = rng.randint(200, 400) if rng.random() < LONG_CONTEXT_SHARE else rng.randint(15, 60)
    context = filler(rng, lang, size, avoid)
    at = rng.randint(0, size)
    question = " ".join([*filler(rng, lang, rng.randint(2, 4), avoid), words[opening]])
    if rng.random() < unanswerable:
        context.insert(at, words[closing])
        answers: dict[str, list] = {"text": [], "answer_start": []}
    else:
        span = [words[rng.choice(cues[2])] for _ in range(rng.randint(1, 3))]
        context[at:at] = [words[opening], *span, words[closing]]
        answers = {"text": [" ".join(span)], "answer_start": [len(" ".join(context[: at + 1])) + 1]}
    return {"id": qid, "context": " ".join(context), "question": question, "answers": answers}


FORMAT = SpanQA()
