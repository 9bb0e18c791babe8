"""Readers of the original JSON-lines releases (ANLI, SNLI, HellaSwag, CommonsenseQA) for `data.source: local`.

Each returns rows in its split's hub schema (the columns and values of the `HubSource` the entry names), so the
hub path's checks and canonicalisation serve both. Registered in `raytl.tasks.readers.READERS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Dataset

from raytl.errors import InputError
from raytl.tasks.entry import Task

ANLI_LABELS = {"e": "entailment", "n": "neutral", "c": "contradiction"}  # ANLI v1.0 writes one letter
NO_GOLD_LABEL = -1  # SNLI's `gold_label: "-"` (no annotator majority), as the hub copy stores it


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for every non-blank line; a line that is not a JSON object stops with its number."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: line {number}: invalid JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: line {number}: expected a JSON object, found {type(record).__name__}")
        records.append((number, record))
    return records


def _field(path: Path, number: int, record: dict[str, Any], key: str, kind: type = str) -> Any:
    if key not in record:
        raise InputError(f"{path}: line {number}: '{key}' is missing; found: {', '.join(record)}")
    value = record[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"{path}: line {number}: '{key}' is a {type(value).__name__}; expected a {kind.__name__}")
    return value


def _label(task: Task, value: int | str, path: Path, number: int) -> int:
    try:
        return task.label_index(value)
    except ValueError as exc:
        raise InputError(f"{path}: line {number}: {exc}") from None


def anli_jsonl(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """ANLI v1.0 `anli_v1.0/R{1,2,3}/{train,dev}.jsonl`: uid, context, hypothesis, label (`e`, `n` or `c`), reason,
    ... -> the hub's uid/premise/hypothesis/label/reason."""
    rows = []
    for number, record in read_jsonl(path):
        letter = _field(path, number, record, "label")
        if letter not in ANLI_LABELS:
            raise InputError(f"{path}: line {number}: label {letter!r}; allowed: {', '.join(ANLI_LABELS)}")
        rows.append({"uid": _field(path, number, record, "uid"), "premise": _field(path, number, record, "context"),
                     "hypothesis": _field(path, number, record, "hypothesis"),
                     "label": _label(task, ANLI_LABELS[letter], path, number), "reason": record.get("reason") or ""})
    return _table(rows, ("uid", "premise", "hypothesis", "label", "reason"))


def snli_jsonl(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """SNLI 1.0 `snli_1.0/snli_1.0_{train,dev,test}.jsonl`: sentence1, sentence2, gold_label, ... -> the hub's
    premise/hypothesis/label; `gold_label: "-"` (no majority) becomes -1, which loading drops as the hub path does."""
    rows = []
    for number, record in read_jsonl(path):
        gold = _field(path, number, record, "gold_label")
        rows.append({"premise": _field(path, number, record, "sentence1"),
                     "hypothesis": _field(path, number, record, "sentence2"),
                     "label": NO_GOLD_LABEL if gold == "-" else _label(task, gold, path, number)})
    return _table(rows, ("premise", "hypothesis", "label"))


HELLASWAG_KEYS = ("ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings", "source_id", "split", "split_type")


def hellaswag_jsonl(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """HellaSwag's `data/hellaswag_{train,val}.jsonl` (github.com/rowanz/hellaswag): ind, activity_label, ctx_a,
    ctx_b, ctx, endings (4 strings), source_id, split, split_type, label (an int) -> the hub's columns, label as a
    string ("0".."3") as the hub stores it."""
    rows = []
    for number, record in read_jsonl(path):
        row = {key: _field(path, number, record, key, int if key == "ind" else list if key == "endings" else str)
               for key in HELLASWAG_KEYS}
        if not all(isinstance(ending, str) for ending in row["endings"]):
            raise InputError(f"{path}: line {number}: 'endings' must be a list of strings")
        rows.append({**row, "label": str(_field(path, number, record, "label", int))})
    return _table(rows, (*HELLASWAG_KEYS, "label"))


def commonsenseqa_jsonl(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """CommonsenseQA's `{train,dev}_rand_split.jsonl`: `{"answerKey", "id", "question": {"question_concept",
    "choices": [{"label", "text"}, ...], "stem"}}` -> the hub's id, question, question_concept, choices {label, text},
    answerKey."""
    rows = []
    for number, record in read_jsonl(path):
        question = _field(path, number, record, "question", dict)
        choices = _field(path, number, question, "choices", list)
        if not all(isinstance(c, dict) and isinstance(c.get("label"), str) and isinstance(c.get("text"), str)
                   for c in choices):
            raise InputError(f"{path}: line {number}: question.choices must be objects with string 'label' and 'text'")
        rows.append({"id": _field(path, number, record, "id"), "question": _field(path, number, question, "stem"),
                     "question_concept": question.get("question_concept") or "",
                     "choices": {"label": [c["label"] for c in choices], "text": [c["text"] for c in choices]},
                     "answerKey": _field(path, number, record, "answerKey")})
    return _table(rows, ("id", "question", "question_concept", "choices", "answerKey"))


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Dataset:
    return Dataset.from_dict({column: [row[column] for row in rows] for column in columns})


JSONL_READERS: dict[str, Callable[[Path, Task, str, str], Dataset]] = {
    "anli_jsonl": anli_jsonl,
    "snli_jsonl": snli_jsonl,
    "hellaswag_jsonl": hellaswag_jsonl,
    "commonsenseqa_jsonl": commonsenseqa_jsonl,
}
