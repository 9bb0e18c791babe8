"""The contract every format keeps, as one suite that each format's test class inherits (as Optuna's samplers share
theirs): declared attributes, seeded generation in the canonical columns, encoding with the batch columns, the head
and the loss (training formats) or the pooling head and a refused loss (`embed` formats), then calibrate -> decode
-> metric -> submission, the submission scored back by `raytl score` to the same metrics for XTREME's tasks.

A subclass provides one fixture, `case`: a (format name, task name) pair. `tests/test_format_contract.py` runs the
suite on every format in `FORMATS` (with `CONTRACT_TASKS`), so a new format gets the whole contract for free.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from datasets import Dataset

from raytl.config import DataConfig
from raytl.models.task_model import TaskModel, build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.tasks import TASKS, Task
from raytl.tasks.formats import FORMATS, Format
from raytl.tasks.labels import with_labels
from raytl.tasks.metrics import METRICS
from raytl.tasks.scoring import score_file
from raytl.training.batching import collate

MAX_LENGTH = 48
ROWS = 12


def contract_task(format_name: str) -> str:
    """The task a format's contract runs on: its first XTREME target in the catalog, else its first task."""
    tasks = [task for task in TASKS.values() if task.format == format_name and not task.label_file]
    return next((task.name for task in tasks if task.xtreme), tasks[0].name)


CONTRACT_TASKS = [(name, contract_task(name)) for name in FORMATS]


def squad_json(examples: Dataset) -> str:
    """Gold answers as SQuAD JSON, the label layout XTREME's evaluator reads for QA."""
    qas = [{"id": row["id"], "question": row["question"],
            "answers": [{"text": text, "answer_start": start}
                        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True)]}
           for row in examples]
    return json.dumps({"data": [{"paragraphs": [{"context": row["context"], "qas": [qa]}
                                                for row, qa in zip(examples, qas, strict=True)]}]})


def _sequences(input_ids: list) -> list[list[int]]:
    return input_ids if input_ids and isinstance(input_ids[0], list) else [input_ids]


class FormatContract:
    """Inherit and provide `case`; every test below then runs on that format."""

    @pytest.fixture(scope="class")
    def tokenizer(self):
        return load_tokenizer(ZOO["tiny"])

    @pytest.fixture(scope="class")
    def encoder(self, tokenizer):
        return build_encoder(ZOO["tiny"], tokenizer, 0)

    @pytest.fixture
    def fmt(self, case: tuple[str, str]) -> Format:
        return FORMATS[case[0]]

    @pytest.fixture
    def task(self, case: tuple[str, str]) -> Task:
        return with_labels(TASKS[case[1]], DataConfig(source="generated"))

    @pytest.fixture
    def lang(self, task: Task) -> str:
        return task.languages[-1]

    @pytest.fixture
    def examples(self, fmt: Format, task: Task, lang: str) -> Dataset:
        return Dataset.from_list(fmt.generate(task, lang, ROWS, random.Random(0)))

    @pytest.fixture
    def features(self, fmt: Format, task: Task, examples: Dataset, tokenizer) -> list[dict[str, Any]]:
        return fmt.encode(examples, tokenizer, MAX_LENGTH, task).to_list()

    def test_declares_its_name_columns_and_target_phase(self, fmt: Format, case: tuple[str, str]) -> None:
        assert fmt.name == case[0] and TASKS[case[1]].format == fmt.name
        assert fmt.target_phase in ("train", "embed")
        assert fmt.canonical_columns and isinstance(fmt.batch_columns, tuple)

    def test_generation_is_seeded_and_canonical(self, fmt: Format, task: Task, lang: str) -> None:
        rows = fmt.generate(task, lang, ROWS, random.Random(3))
        assert rows == fmt.generate(task, lang, ROWS, random.Random(3))
        assert rows != fmt.generate(task, lang, ROWS, random.Random(4))
        assert len(rows) == ROWS and all(tuple(row) == fmt.canonical_columns for row in rows)

    def test_encoding_carries_input_ids_and_the_batch_columns(self, fmt: Format, features: list[dict]) -> None:
        assert features and all({"input_ids", *fmt.batch_columns} <= set(row) for row in features)
        sequences = [ids for row in features for ids in _sequences(row["input_ids"])]  # one per choice for MC
        assert all(0 < len(ids) <= MAX_LENGTH for ids in sequences)

    def test_head_forward_and_loss(self, fmt: Format, task: Task, features: list[dict], tokenizer, encoder) -> None:
        model = TaskModel(encoder, fmt.head(encoder.config, task)).train()
        batch = collate(features, tokenizer.pad_token_id, fmt.batch_columns)
        logits = model(batch)
        if fmt.target_phase == "embed":  # a pooled embedding per row; never trained
            assert logits.shape == (len(features), encoder.config.hidden_size)
            with pytest.raises(TypeError, match=f"format '{fmt.name}' is never trained"):
                fmt.loss(logits, batch)
            return
        loss = fmt.loss(logits, batch)
        assert loss.ndim == 0 and math.isfinite(loss.item())
        model.zero_grad()
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.head.parameters())

    def test_decode_scores_and_the_submission_scores_back(self, fmt: Format, task: Task, lang: str,
                                                          examples: Dataset, features: list[dict], tokenizer,
                                                          encoder, tmp_path: Path) -> None:
        model = TaskModel(encoder, fmt.head(encoder.config, task)).eval()
        with torch.no_grad():
            logits = list(model(collate(features, tokenizer.pad_token_id)))
        threshold = fmt.calibrate(logits, features, examples, task)  # what the pipeline does on dev data
        predictions = fmt.decode(logits, features, examples, task, threshold)
        references = fmt.references(examples, task, features)
        metrics = METRICS[task.metric](predictions, references, lang)
        assert 0 <= metrics[task.dev_key] <= 100
        suffix, text = fmt.submission(predictions, examples)
        assert suffix in (".tsv", ".json") and text
        if task.xtreme is None:
            return
        label = squad_json(examples) if task.xtreme.files == "qa" else fmt.submission(references, examples)[1]
        (tmp_path / f"label{suffix}").write_text(label)
        (tmp_path / f"pred{suffix}").write_text(text)
        assert score_file(task.name, tmp_path / f"pred{suffix}", tmp_path / f"label{suffix}", lang) == metrics
