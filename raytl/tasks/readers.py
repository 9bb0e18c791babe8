"""Readers of the original release files (data.source: local), each returning rows in its split's hub schema.

Several hub copies are broken (see ../shared/docs/xtreme.md), so the original layouts are first-class sources.
A reader is `fn(path, task, split, lang) -> Dataset`, registered by name in READERS; task entries name it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, List, Value

from raytl.errors import InputError
from raytl.tasks.entry import Task

# XTREME language codes -> the ISO 639-3 codes the LASER Tatoeba files use
ISO3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
}


def read_tsv(path: Path, required: list[str]) -> list[dict[str, str]]:
    """A header TSV (no quoting, as the releases write them); every row kept, the first data row included."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = list(rows[0]) if rows else []
    for column in required:
        if column not in header:
            raise InputError(f"{path}: line 1: column '{column}' is missing; found: {', '.join(header)}")
    return rows


def glue_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """GLUE's MNLI/train.tsv: sentence1, sentence2, gold_label -> the hub's premise/hypothesis/label/idx."""
    rows = read_tsv(path, ["sentence1", "sentence2", "gold_label"])
    return Dataset.from_dict({
        "premise": [row["sentence1"] for row in rows],
        "hypothesis": [row["sentence2"] for row in rows],
        "label": [task.label_index(row["gold_label"]) for row in rows],
        "idx": list(range(len(rows))),
    })


def xnli_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """XNLI-1.0/xnli.{dev,test}.tsv (all languages in one file): language, gold_label, sentence1, sentence2."""
    rows = read_tsv(path, ["language", "gold_label", "sentence1", "sentence2"])
    columns = ("language", "sentence1", "sentence2", "gold_label")
    return Dataset.from_dict({column: [row[column] for row in rows] for column in columns})


def pawsx_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """PAWS-X x-final/{lang}/{train,dev_2k,test_2k}.tsv: id, sentence1, sentence2, label."""
    rows = read_tsv(path, ["id", "sentence1", "sentence2", "label"])
    table = {column: [row[column] for row in rows] for column in ("sentence1", "sentence2", "label")}
    if split == "train":
        return Dataset.from_dict({"id": [int(row["id"]) for row in rows], **table,
                                  "label": [int(v) for v in table["label"]]})
    return Dataset.from_dict(table)


_SQUAD_FEATURES = Features({
    "id": Value("string"), "title": Value("string"), "context": Value("string"), "question": Value("string"),
    "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))},
})


def squad_json(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """SQuAD-format JSON, `{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`: SQuAD v1.1/v2.0,
    XQuAD, MLQA and TyDiQA-GoldP (one file for all languages; the entry keeps one by the id prefix).

    Unanswerable SQuAD v2 questions keep their empty `answers`, as the hub copy does.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None
    rows = _squad_rows(path, data)
    columns = [column for column in task.source(split).features if column in _SQUAD_FEATURES]
    table = {column: [row[column] for row in rows] for column in columns}
    return Dataset.from_dict(table, features=Features({column: _SQUAD_FEATURES[column] for column in columns}))


def _squad_rows(path: Path, data: object) -> list[dict]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(f'{path}: not SQuAD JSON: expected an object with a "data" list of articles')
    rows: list[dict] = []
    seen: set[str] = set()
    for a, article in enumerate(data["data"]):
        for p, paragraph in enumerate(_squad_field(path, article, "paragraphs", list, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _squad_field(path, paragraph, "context", str, where)
            for q, question in enumerate(_squad_field(path, paragraph, "qas", list, where)):
                row = _squad_question(path, question, f"{where}.qas[{q}]", context, article.get("title", ""))
                if row["id"] in seen:
                    raise InputError(f"{path}: {where}.qas[{q}]: question id {row['id']!r} appears twice")
                seen.add(row["id"])
                rows.append(row)
    if not rows:
        raise InputError(f"{path}: no questions")
    return rows


def _squad_question(path: Path, question: object, where: str, context: str, title: str) -> dict:
    qid = _squad_field(path, question, "id", str, where)
    where = f"{where} (question {qid!r})"
    texts: list[str] = []
    starts: list[int] = []
    for i, answer in enumerate(_squad_field(path, question, "answers", list, where)):
        texts.append(_squad_field(path, answer, "text", str, f"{where}.answers[{i}]"))
        starts.append(_squad_field(path, answer, "answer_start", int, f"{where}.answers[{i}]"))
        if not 0 <= starts[-1] <= len(context) - len(texts[-1]):
            raise InputError(f"{path}: {where}.answers[{i}]: answer_start {starts[-1]} with a "
                             f"{len(texts[-1])}-character answer is outside the {len(context)}-character context")
    text = _squad_field(path, question, "question", str, where)
    return {"id": qid, "title": title, "context": context, "question": text,
            "answers": {"text": texts, "answer_start": starts}}


def _squad_field(path: Path, parent: object, key: str, kind: type, where: str) -> Any:
    if not isinstance(parent, dict) or key not in parent:
        raise InputError(f"{path}: {where}: '{key}' is missing")
    value = parent[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"{path}: {where}: '{key}' is a {type(value).__name__}; expected a {kind.__name__}")
    return value


READERS: dict[str, Callable[[Path, Task, str, str], Dataset]] = {
    "glue_tsv": glue_tsv,
    "xnli_tsv": xnli_tsv,
    "pawsx_tsv": pawsx_tsv,
    "squad_json": squad_json,
}
