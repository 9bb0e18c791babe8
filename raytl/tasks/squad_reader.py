"""The reader of SQuAD-format JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP, translate-train SQuAD), with a
message naming the file and the JSON path of the first thing that is not SQuAD. Registered in
`raytl.tasks.readers.READERS` as `squad_json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, List, Value

from raytl.errors import InputError
from raytl.tasks.entry import Task

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
