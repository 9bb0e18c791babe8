"""Readers of the original release files (data.source: local), each returning rows in its split's hub schema.

Several hub copies are broken (see ../shared/docs/xtreme.md), so the original layouts are first-class sources.
A reader is `fn(path, task, split, lang) -> Dataset`, registered by name in READERS; task entries name it.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from datasets import Dataset

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


READERS: dict[str, Callable[[Path, Task, str, str], Dataset]] = {
    "glue_tsv": glue_tsv,
    "xnli_tsv": xnli_tsv,
    "pawsx_tsv": pawsx_tsv,
}
