"""The contract every task entry gets for free: real schemas, generated data that loads and encodes, labels in range,
XTREME's languages; plus the multi-source split and the SST-2 original files."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch
from datasets import Dataset

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.models.task_model import TaskModel, build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.tasks import TASKS, Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.generate import render
from raytl.tasks.labels import with_labels
from raytl.tasks.loading import canonical, load_examples
from raytl.tasks.metrics import METRICS
from raytl.tasks.readers import READERS
from raytl.tasks.shapes import SHAPES
from raytl.training.batching import collate

DATA = DataConfig(source="generated", generated_train_size=24, generated_eval_size=8)

# xtreme.md's test languages per target task (copied here: tests must not read ../shared)
XTREME_LANGUAGES = {
    "xnli": "ar bg de el en es fr hi ru sw th tr ur vi zh",
    "pawsx": "de en es fr ja ko zh",
    "udpos": "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh",
    "panx": "af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl pt ru sw ta te th tl "
    "tr ur vi yo zh",
    "xquad": "ar de el en es hi ru th tr vi zh",
    "mlqa": "ar de en es hi vi zh",
    "tydiqa": "ar bn en fi id ko ru sw te",
    "bucc2018": "de fr ru zh",
    "tatoeba": "af ar bg bn de el es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr nl pt ru sw ta te th tl tr ur "
    "vi zh",
}
GROUPS = {"simple NLI", "adversarial NLI", "paraphrase", "sentiment", "extractive QA", "commonsense multiple choice",
          "multilingual MLM", "machine-translated",
          "syntactic tagging"}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ZOO["tiny"])


def _matches(value: Any, dtype: str) -> bool:
    if dtype.startswith("list<"):
        return isinstance(value, list) and all(_matches(item, dtype[5:-1]) for item in value)
    if dtype.startswith("struct<"):
        return isinstance(value, dict) and all(f"{key}:" in dtype for key in value)
    return isinstance(value, str) if dtype == "string" else isinstance(value, int) and not isinstance(value, bool)


def _splits(task: Task) -> list[tuple[str, str]]:
    """(split, language) pairs worth loading: English train and dev, one non-English test language."""
    pairs = [(split, "en") for split in ("train", "validation") if split in task.sources]
    others = [lang for lang in task.languages if lang != "en"]
    if "test" in task.sources:
        pairs.append(("test", others[-1] if others else task.languages[0]))
    return pairs


@pytest.mark.parametrize("name", list(TASKS))
def test_entry_is_consistent(name: str) -> None:
    task = TASKS[name]
    assert task.format in FORMATS and task.metric in METRICS and task.world
    assert not task.shape or task.shape in SHAPES
    assert all(local.reader in READERS for split in task.local for local in task.local_parts(split))  # type: ignore
    assert set(task.more_local) <= set(task.local)
    assert set(task.local) <= set(task.sources) and set(task.more_sources) <= set(task.sources)
    if {"label", "tags"} & set(FORMATS[task.format].canonical_columns):
        assert task.labels or task.label_file
    if task.role == "intermediate":
        assert task.languages == ("en",) and task.group in GROUPS
        assert task.complexity is not None, "every intermediate task carries its complexity"
        size = task.complexity.train_size
        assert size is None or f"{size:,}" in task.description, "train_size is the figure the description states"
    else:
        assert task.complexity is None
        assert set(task.languages) == set(XTREME_LANGUAGES[name].split())
    for split in task.sources:
        for source in task.parts(split):  # type: ignore[arg-type]
            mapped = set(source.columns.values()) | set(source.where) | set(source.prefix)
            assert mapped <= set(source.features), (split, source.path)


@pytest.mark.parametrize("name", list(TASKS))
def test_generated_data_renders_in_the_exact_schema_in_every_language(name: str) -> None:
    task = with_labels(TASKS[name], DATA)
    fmt = FORMATS[task.format]
    for split in task.sources:
        languages = ("en",) if split == "train" else task.languages
        for lang in languages:
            rows = fmt.generate(task, lang, 3, random.Random(0))
            if task.shape:
                rows = [SHAPES[task.shape].write(row) for row in rows]
            for source in task.parts(split):  # type: ignore[arg-type]
                table = render(rows, source, task, lang)
                assert list(table) == list(source.features)
                for column, dtype in source.features.items():
                    assert all(_matches(v, dtype) for v in table[column]), (split, lang, column, dtype)


@pytest.fixture(scope="module")
def encoder(tokenizer):
    return build_encoder(ZOO["tiny"], tokenizer, 0).eval()


# retrieval formats do not train: tests/test_retrieval_targets.py and tests/format_contract.py cover them
TRAINED = [name for name, task in TASKS.items() if FORMATS[task.format].target_phase == "train"]


@pytest.mark.parametrize("name", TRAINED)
def test_generated_data_loads_encodes_and_scores(name: str, tokenizer, encoder) -> None:
    task = with_labels(TASKS[name], DATA)
    fmt = FORMATS[task.format]
    model = TaskModel(encoder, fmt.head(encoder.config, task)).eval()
    for split, lang in _splits(task):
        examples = load_examples(task, split, lang, DATA)  # type: ignore[arg-type]
        assert examples.column_names and set(examples.column_names) <= set(fmt.canonical_columns), split
        for column in ("label", "tags"):
            if column in examples.column_names:
                values = examples[column]
                flat = [v for value in values for v in value] if isinstance(values[0], list) else values
                assert all(0 <= v < len(task.labels) for v in flat), (split, column)
        features = fmt.encode(examples, tokenizer, 48, task)
        packed = fmt.name == "mlm"  # masked LM packs many documents into each row
        assert packed or len(features) >= len(examples), "an example was dropped"
        assert all(column in features.column_names for column in fmt.batch_columns)
        if split == "train":
            continue
        rows = features.to_list()  # encode -> head -> decode -> metric, as the pipeline runs it
        with torch.no_grad():
            logits = list(model(collate(rows, tokenizer.pad_token_id)))
        predictions = fmt.decode(logits, rows, examples, task)
        assert task.dev_key in METRICS[task.metric](predictions, fmt.references(examples, task, rows), lang)


def test_anli_plus_concatenates_its_sources_and_drops_unlabelled_snli_rows() -> None:
    task = TASKS["anli_plus"]
    parts = task.parts("train")
    assert [(p.path, p.split) for p in parts] == [
        ("facebook/anli", "train_r1"), ("facebook/anli", "train_r2"), ("facebook/anli", "train_r3"),
        ("nyu-mll/glue", "train"), ("stanfordnlp/snli", "train")]
    assert [p.unlabelled for p in parts] == [None] * 4 + [-1]
    examples = load_examples(task, "train", "en", DataConfig(source="generated", generated_train_size=50))
    assert len(examples) == 50  # 10 rows from each of the 5 sources
    snli = Dataset.from_dict({"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": [-1, 2]})
    with pytest.raises(InputError, match=r"label -1 of task 'anli_plus'"):
        canonical(snli, task, parts[-1], "snli")  # canonicalisation alone refuses -1: loading must filter it
    assert canonical(snli.filter(lambda r: r["label"] != parts[-1].unlabelled), task, parts[-1], "snli")["label"] == [2]


def test_sst2_original_tsv(tmp_path: Path) -> None:
    (tmp_path / "SST-2").mkdir()
    (tmp_path / "SST-2" / "dev.tsv").write_text('sentence\tlabel\nit \'s a "charming" film\t1\nflat\t0\n')
    data = DataConfig(source="local", dir=str(tmp_path))
    examples = load_examples(TASKS["sst2"], "validation", "en", data)
    assert examples.to_list() == [{"text_a": 'it \'s a "charming" film', "label": 1}, {"text_a": "flat", "label": 0}]
    (tmp_path / "SST-2" / "dev.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t7\n")
    with pytest.raises(InputError, match=r"dev.tsv: line 3: label 7 of task 'sst2'"):
        load_examples(TASKS["sst2"], "validation", "en", data)


def test_missing_original_files_say_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not found: .*ud-treebanks-v2.5 \(UD v2.5"):
        load_examples(TASKS["udpos"], "test", "de", DataConfig(source="local", dir=str(tmp_path)))
    (tmp_path / "ud-treebanks-v2.5").mkdir()
    with pytest.raises(InputError, match=r"no treebank file matches \*/de_\*-ud-test.conllu"):
        load_examples(TASKS["udpos"], "test", "de", DataConfig(source="local", dir=str(tmp_path)))
