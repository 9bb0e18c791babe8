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
from raytl.tasks.conllu import read_conllu
from raytl.tasks.entry import ISO3, Task
from raytl.tasks.jsonl_readers import JSONL_READERS
from raytl.tasks.squad_reader import squad_json


def read_tsv(path: Path, required: list[str]) -> list[dict[str, str]]:
    """A header TSV (no quoting, as the releases write them); every row kept, the first data row included; a row
    too short to hold a required column stops with its line number."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = list(reader.fieldnames or [])
        for column in required:
            if column not in header:
                raise InputError(f"{path}: line 1: column '{column}' is missing; found: {', '.join(header)}")
        rows = []
        for row in reader:
            short = [column for column in required if row[column] is None]
            if short:
                raise InputError(f"{path}: line {reader.line_num}: column '{short[0]}' is missing (fewer "
                                 f"tab-separated fields than the header's {len(header)})")
            rows.append(row)
    return rows


def glue_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """GLUE's MNLI/train.tsv: sentence1, sentence2, gold_label -> the hub's premise/hypothesis/label/idx."""
    rows = read_tsv(path, ["sentence1", "sentence2", "gold_label"])
    return Dataset.from_dict({
        "premise": [row["sentence1"] for row in rows],
        "hypothesis": [row["sentence2"] for row in rows],
        "label": [_tag(task, row["gold_label"], path, number) for number, row in enumerate(rows, start=2)],
        "idx": list(range(len(rows))),
    })


def qqp_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """GLUE's QQP/{train,dev}.tsv: id, qid1, qid2, question1, question2, is_duplicate (0 or 1) -> the hub's
    question1/question2/label/idx."""
    rows = read_tsv(path, ["question1", "question2", "is_duplicate"])
    labels = [_tag(task, _integer(row["is_duplicate"], path, number), path, number)
              for number, row in enumerate(rows, start=2)]
    return Dataset.from_dict({"question1": [row["question1"] for row in rows],
                              "question2": [row["question2"] for row in rows], "label": labels,
                              "idx": list(range(len(rows)))})


def xnli_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """XNLI-1.0/xnli.{dev,test}.tsv (all languages in one file): language, gold_label, sentence1, sentence2."""
    rows = read_tsv(path, ["language", "gold_label", "sentence1", "sentence2"])
    columns = ("language", "sentence1", "sentence2", "gold_label")
    return Dataset.from_dict({column: [row[column] for row in rows] for column in columns})


def xnli_mt_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """XNLI-MT-1.0 `multinli/multinli.train.{lang}.tsv` (MultiNLI machine-translated): premise, hypo, label
    ("contradictory" for contradiction) -> facebook/xnli's premise/hypothesis/label."""
    rows = read_tsv(path, ["premise", "hypo", "label"])  # refuses short rows, naming the line
    return Dataset.from_dict({
        "premise": [row["premise"] for row in rows],
        "hypothesis": [row["hypo"] for row in rows],
        "label": [_tag(task, row["label"], path, number) for number, row in enumerate(rows, start=2)],
    })


def pawsx_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """PAWS-X x-final/{lang}/{train,dev_2k,test_2k}.tsv: id, sentence1, sentence2, label."""
    rows = read_tsv(path, ["id", "sentence1", "sentence2", "label"])
    table = {column: [row[column] for row in rows] for column in ("sentence1", "sentence2", "label")}
    if split == "train":
        return Dataset.from_dict({"id": [int(row["id"]) for row in rows], **table,
                                  "label": [int(v) for v in table["label"]]})
    return Dataset.from_dict(table)


UD_SPLITS = {"train": "train", "validation": "dev", "test": "test"}


def ud_conllu(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """UD v2.5 (`ud-treebanks-v2.5/*/{lang}_*-ud-{train,dev,test}.conllu`): every treebank of the language merged,
    fused multi-word tokens kept as surface forms, as XTREME's preprocessing did (the hub copy keeps syntactic words).

    Sentences whose text is withheld (every form `_`, e.g. Arabic NYUAD) are skipped.
    """
    pattern = f"*/{lang}_*-ud-{UD_SPLITS[split]}.conllu"
    files = sorted(path.glob(pattern))
    if not files:
        raise InputError(f"{path}: no treebank file matches {pattern}")
    tokens, tags = [], []
    for file in files:
        for sentence in read_conllu(file):
            if all(word.form == "_" for word in sentence):
                continue
            tokens.append([word.form for word in sentence])
            tags.append([_tag(task, word.upos, file, word.line) for word in sentence])
    return Dataset.from_dict({"tokens": tokens, "pos_tags": tags})


def panx_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """PAN-X (XTREME's WikiANN split) `panx_dataset/{lang}/{train,dev,test}`: `token<TAB>tag` lines, a blank line
    after each sentence; a `{lang}:` prefix on tokens (some copies have it) is removed.
    """
    sentences: list[list[tuple[str, int]]] = [[]]
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            sentences.append([])
            continue
        token, tab, tag = line.rpartition("\t")
        if not tab or not token:
            raise InputError(f"{path}: line {number}: expected token<TAB>tag, found {line!r}")
        sentences[-1].append((token.removeprefix(f"{lang}:"), _tag(task, tag.strip(), path, number)))
    sentences = [sentence for sentence in sentences if sentence]
    return Dataset.from_dict({
        "tokens": [[token for token, _ in sentence] for sentence in sentences],
        "ner_tags": [[tag for _, tag in sentence] for sentence in sentences],
        "langs": [[lang] * len(sentence) for sentence in sentences],
    })


def sst2_tsv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """GLUE SST-2/{train,dev}.tsv: a header `sentence<TAB>label`, labels 0 (negative) and 1 (positive)."""
    rows = read_tsv(path, ["sentence", "label"])
    labels = [_tag(task, _integer(row["label"], path, number), path, number) for number, row in enumerate(rows, 2)]
    return Dataset.from_dict({"sentence": [row["sentence"] for row in rows], "label": labels,
                              "idx": list(range(len(rows)))})


COSMOSQA_COLUMNS = ("id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label")


def cosmosqa_csv(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """CosmosQA's original train.csv / valid.csv (quoted CSV): id, context, question, answer0..answer3, label."""
    table: dict[str, list] = {column: [] for column in COSMOSQA_COLUMNS}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in COSMOSQA_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: line 1: column '{missing[0]}' is missing; found: {reader.fieldnames}")
        for row in reader:
            for column in COSMOSQA_COLUMNS[:-1]:
                table[column].append(row[column])
            table["label"].append(_integer(row["label"], path, reader.line_num))
    return Dataset.from_dict(table)


def ccg_tagged(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """CCG supertags from your own CCGbank copy (LDC2005T13 is licensed: raytl ships no CCG data). Write one
    sentence per line: space-separated tokens, a tab, space-separated supertags (one per token); list every
    supertag, one per line, in the task's label file.
    """
    tokens, tags = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        words, tab, supertags = line.partition("\t")
        words_list, tag_list = words.split(), supertags.split()
        if not tab or not words_list or len(words_list) != len(tag_list):
            raise InputError(f"{path}: line {number}: expected tokens<TAB>supertags with as many supertags as "
                             f"tokens; found {len(words_list)} tokens and {len(tag_list)} supertags")
        tokens.append(words_list)
        tags.append([_tag(task, tag, path, number) for tag in tag_list])
    return Dataset.from_dict({"tokens": tokens, "tags": tags})


def _tag(task: Task, value: int | str, path: Path, number: int) -> int:
    try:
        return task.label_index(value)
    except ValueError as exc:
        raise InputError(f"{path}: line {number}: {exc}") from None


def _integer(value: str, path: Path, number: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{path}: line {number}: label {value!r} is not an integer") from None


def tatoeba_text(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """LASER Tatoeba `tatoeba.{iso3}-eng.{iso3}` and its `.eng` sibling: line i of one translates line i."""
    english = path.with_suffix(".eng")
    if not english.is_file():
        raise InputError(f"{english}: file not found (the English side of {path.name})")
    source, target = _lines(path), _lines(english)
    if len(source) != len(target):
        raise InputError(f"{path}: {len(source)} lines but {english.name} has {len(target)}; allowed: equal counts")
    return Dataset.from_dict({"source_sentence": source, "target_sentence": target,
                              "source_lang": [ISO3.get(lang, lang)] * len(source),
                              "target_lang": ["eng"] * len(source)})


def bucc_files(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """BUCC'18 `{lang}-en.{split}.{lang}` and `.en` (`id<TAB>sentence`, every sentence, distractors included) with
    the `.gold` id pairs: one row per gold pair, then one per unpaired sentence with an empty other side."""
    stem = path.name.removesuffix(".gold")
    source = _id_sentences(path.with_name(f"{stem}.{lang}"))
    target = _id_sentences(path.with_name(f"{stem}.en"))
    gold = [_fields(line, path, number, 2) for number, line in enumerate(_lines(path), start=1)]
    rows = [(s, source.get(s, ""), t, target.get(t, "")) for s, t in gold]
    paired_source, paired_target = {s for s, _ in gold}, {t for _, t in gold}
    rows += [(s, text, "", "") for s, text in source.items() if s not in paired_source]
    rows += [("", "", t, text) for t, text in target.items() if t not in paired_target]
    columns = ("source_lang", "source_sentence", "target_lang", "target_sentence")  # the hub's (misnamed) id columns
    return Dataset.from_dict({column: [row[i] for row in rows] for i, column in enumerate(columns)})


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _fields(line: str, path: Path, number: int, count: int) -> list[str]:
    fields = line.split("\t")
    if len(fields) != count:
        raise InputError(f"{path}: line {number}: expected {count} tab-separated fields, found {len(fields)}")
    return fields


def _id_sentences(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise InputError(f"{path}: file not found (BUCC sentences beside the gold file)")
    return dict(_fields(line, path, number, 2) for number, line in enumerate(_lines(path), start=1))


def plain_text(path: Path, task: Task, split: str, lang: str) -> Dataset:
    """A directory of plain text: one document per non-empty line (for masked-LM training)."""
    lines = [line for line in _lines(path) if line.strip()]
    return Dataset.from_dict({"id": [str(i) for i in range(len(lines))], "url": [""] * len(lines),
                              "title": [""] * len(lines), "text": lines})


READERS: dict[str, Callable[[Path, Task, str, str], Dataset]] = {
    "tatoeba_text": tatoeba_text,
    "plain_text": plain_text,
    "bucc_files": bucc_files,
    "glue_tsv": glue_tsv,
    "qqp_tsv": qqp_tsv,
    "xnli_tsv": xnli_tsv,
    "xnli_mt_tsv": xnli_mt_tsv,
    "pawsx_tsv": pawsx_tsv,
    "squad_json": squad_json,
    "ud_conllu": ud_conllu,
    "panx_tsv": panx_tsv,
    "sst2_tsv": sst2_tsv,
    "cosmosqa_csv": cosmosqa_csv,
    "ccg_tagged": ccg_tagged,
    **JSONL_READERS,
}
