"""Row conversions for tasks whose canonical columns are built from several hub columns (`Task.shape`).

A source's `columns` first renames hub columns to the names a shape reads; `read` then turns one such row into one
canonical row. `write` is its inverse for generated data: `read(write(row)) == row` for generated rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class Shape:
    read: Callable[[Row], Row]
    write: Callable[[Row], Row]


def _hellaswag_read(row: Row) -> Row:
    """prompt `ctx_a`; choice `ctx_b + " " + ending` (no leading space when `ctx_b` is empty)."""
    lead = row["lead"]
    choices = [f"{lead} {ending}" if lead else ending for ending in row["endings"]]
    return {"prompt": row["prompt"], "choices": choices, "label": row["label"]}


def _hellaswag_write(row: Row) -> Row:
    heads = {choice.split(" ", 1)[0] for choice in row["choices"]}
    shared = len(heads) == 1 and all(" " in choice for choice in row["choices"])
    lead = heads.pop() if shared else ""
    endings = [choice.split(" ", 1)[1] if shared else choice for choice in row["choices"]]
    return {"prompt": row["prompt"], "lead": lead, "endings": endings, "label": row["label"]}


COSMOSQA_ANSWERS = ("answer0", "answer1", "answer2", "answer3")


def _cosmosqa_read(row: Row) -> Row:
    """prompt `context + " " + question`; choices answer0..answer3."""
    prompt = f"{row['context']} {row['question']}"
    return {"prompt": prompt, "choices": [row[name] for name in COSMOSQA_ANSWERS], "label": row["label"]}


def _cosmosqa_write(row: Row) -> Row:
    context, _, question = row["prompt"].rpartition(" ")
    return {"context": context, "question": question, "label": row["label"],
            **dict(zip(COSMOSQA_ANSWERS, row["choices"], strict=True))}


def _commonsenseqa_read(row: Row) -> Row:
    """The answer is the choice whose label equals answerKey, wherever it stands in `choices.label`."""
    keys, answer = list(row["options"]["label"]), row["answer"]
    if answer not in keys:
        raise ValueError(f"answerKey {answer!r} is not one of the choice labels {keys}")
    return {"prompt": row["prompt"], "choices": list(row["options"]["text"]), "label": keys.index(answer)}


def _commonsenseqa_write(row: Row) -> Row:
    keys = [chr(ord("A") + i) for i in range(len(row["choices"]))]
    return {"prompt": row["prompt"], "options": {"label": keys, "text": list(row["choices"])},
            "answer": keys[row["label"]]}


def _one_sentence_read(row: Row) -> Row:
    return {"text_a": row["sentence"], "label": row["label"]}


def _one_sentence_write(row: Row) -> Row:
    """A generated pair becomes one sentence (the classification generator puts its cue in `text_b`)."""
    return {"sentence": " ".join(text for text in (row["text_a"], row.get("text_b")) if text), "label": row["label"]}


SHAPES: dict[str, Shape] = {
    "hellaswag": Shape(_hellaswag_read, _hellaswag_write),
    "cosmosqa": Shape(_cosmosqa_read, _cosmosqa_write),
    "commonsenseqa": Shape(_commonsenseqa_read, _commonsenseqa_write),
    "one_sentence": Shape(_one_sentence_read, _one_sentence_write),
}
