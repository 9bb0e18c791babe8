"""Masked LM: packing loses no token, masking follows 15% / 80-10-10, the head learns, text files load."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from raytl.config import DataConfig
from raytl.models.task_model import TaskModel, build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.tasks import TASKS
from raytl.tasks.formats.base import IGNORE_INDEX
from raytl.tasks.formats.mlm import FORMAT
from raytl.tasks.loading import load_examples
from raytl.tasks.metrics import METRICS
from raytl.training.batching import collate

MLM = TASKS["mlm"]
DATA = DataConfig(source="generated", generated_train_size=400, generated_eval_size=40)


def test_packing_keeps_every_token_and_masks_fifteen_percent() -> None:
    tokenizer = load_tokenizer(ZOO["tiny"])
    examples = load_examples(MLM, "train", "de", DATA)
    rows = FORMAT.encode(examples, tokenizer, 64, MLM).to_list()
    assert all(len(row["input_ids"]) <= 64 for row in rows)
    restored = []
    for row in rows:
        ids = [label if label != IGNORE_INDEX else token for token, label in zip(row["input_ids"], row["labels"],
                                                                                   strict=True)]
        restored += ids[1:-1]
    expected = [t for ids in tokenizer(list(examples["text"]), add_special_tokens=False)["input_ids"]
                for t in [*ids, tokenizer.eos_token_id]]
    assert restored == expected
    labels = [label for row in rows for label in row["labels"]]
    masked = [label != IGNORE_INDEX for label in labels]
    assert 0.12 < sum(masked) / len(labels) < 0.18
    pairs = [pair for row in rows for pair in zip(row["input_ids"], row["labels"], strict=True)]
    replaced = [token == tokenizer.mask_token_id for token, label in pairs if label != IGNORE_INDEX]
    assert 0.7 < sum(replaced) / len(replaced) < 0.9


def test_trains_on_several_languages_and_learns() -> None:
    assert len(MLM.train_languages) > 1 and load_examples(MLM, "train", "sw", DATA)
    tokenizer = load_tokenizer(ZOO["tiny"])
    rows = FORMAT.encode(load_examples(MLM, "train", "en", DATA), tokenizer, 48, MLM).to_list()
    dev = FORMAT.encode(load_examples(MLM, "validation", "en", DATA), tokenizer, 48, MLM).to_list()
    torch.manual_seed(0)
    encoder = build_encoder(ZOO["tiny"], tokenizer, 0)
    model = TaskModel(encoder, FORMAT.head(encoder.config, MLM))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = random.Random(0)
    for _ in range(60):
        batch = collate(rng.sample(rows, 16), tokenizer.pad_token_id, FORMAT.batch_columns)
        loss = FORMAT.loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = list(model(collate(dev, tokenizer.pad_token_id)))
    score = METRICS["token_accuracy"](FORMAT.decode(predicted, dev, None, MLM), FORMAT.references(None, MLM, dev))
    assert score["accuracy"] > 100 * 5 / len(tokenizer)  # far above guessing one of 1,000 tokens


def test_plain_text_directory(tmp_path: Path) -> None:
    (tmp_path / "mlm").mkdir()
    (tmp_path / "mlm" / "fr.txt").write_text("Bonjour le monde.\n\nUne autre ligne.\n")
    examples = load_examples(MLM, "train", "fr", DataConfig(source="local", dir=tmp_path))
    assert examples["text"] == ["Bonjour le monde.", "Une autre ligne."]
