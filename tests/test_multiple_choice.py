"""The multiple-choice format ([choices][tokens] rows, scores folded to [rows, choices]) and the MC row shapes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from raytl.config import DataConfig
from raytl.errors import InputError
from raytl.models.task_model import TaskModel, build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.tasks import TASKS
from raytl.tasks.formats.multiple_choice import FORMAT
from raytl.tasks.generate import cue_concepts, lexicon
from raytl.tasks.loading import canonical, load_examples
from raytl.tasks.shapes import SHAPES
from raytl.training.batching import collate

HELLASWAG, COSMOSQA, COMMONSENSEQA = TASKS["hellaswag"], TASKS["cosmosqa"], TASKS["commonsenseqa"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ZOO["tiny"])


def test_one_row_per_example_with_one_sequence_per_choice(tokenizer) -> None:
    examples = Dataset.from_dict({"prompt": ["ba " * 40, "vuvidi"], "choices": [["ca", "da de", "fa", "ga"]] * 2,
                                  "label": [2, 0]})
    rows = FORMAT.encode(examples, tokenizer, 12, HELLASWAG).to_list()
    assert [len(row["input_ids"]) for row in rows] == [4, 4] and [row["labels"] for row in rows] == [2, 0]
    long_prompt = rows[0]["input_ids"]
    assert all(len(ids) == 12 for ids in long_prompt)  # longest first: the prompt is cut, the short choice kept
    for ids, choice in zip(long_prompt, examples[0]["choices"], strict=True):
        assert ids[-len(tokenizer(choice)["input_ids"]) + 1 :] == tokenizer(choice)["input_ids"][1:]
    unpadded = tokenizer("vuvidi", "da de")["input_ids"]
    assert rows[1]["input_ids"][1] == unpadded


def test_model_scores_fold_to_rows_by_choices_and_train(tokenizer) -> None:
    examples = Dataset.from_list(FORMAT.generate(COMMONSENSEQA, "en", 3, random.Random(0)))
    rows = FORMAT.encode(examples, tokenizer, 32, COMMONSENSEQA).to_list()
    batch = collate(rows, tokenizer.pad_token_id, FORMAT.batch_columns)
    assert batch["input_ids"].shape[:2] == (3, 5) and batch["labels"].tolist() == examples["label"]
    entry = ZOO["tiny"]
    encoder = build_encoder(entry, tokenizer, 0)
    model = TaskModel(encoder, FORMAT.head(encoder.config, COMMONSENSEQA))
    logits = model(batch)
    assert logits.shape == (3, 5)
    loss = FORMAT.loss(logits, batch)
    loss.backward()
    assert torch.isfinite(loss) and model.head.score.weight.grad is not None
    predicted = FORMAT.decode(list(logits.detach()), rows, examples, COMMONSENSEQA)
    assert predicted == [int(row.argmax()) for row in logits] and all(0 <= p < 5 for p in predicted)
    assert FORMAT.submission(predicted, examples) == (".tsv", "".join(f"{p}\n" for p in predicted))


def test_commonsenseqa_answer_key_is_mapped_through_choice_labels() -> None:
    source = COMMONSENSEQA.source("validation")
    raw = Dataset.from_dict({
        "id": ["q1", "q2"], "question": ["where?", "what?"], "question_concept": ["x", "y"],
        "choices": [{"label": ["C", "A", "B", "E", "D"], "text": ["c", "a", "b", "e", "d"]},
                    {"label": ["A", "B", "C", "D", "E"], "text": ["a", "b", "c", "d", "e"]}],
        "answerKey": ["A", "D"],
    })
    rows = canonical(raw, COMMONSENSEQA, source, "test")
    assert rows["label"] == [1, 3]
    assert [choices[label] for choices, label in zip(rows["choices"], rows["label"], strict=True)] == ["a", "d"]
    bad = raw.map(lambda row: {"answerKey": "F"})
    with pytest.raises(InputError, match=r"test: answerKey 'F' is not one of the choice labels"):
        canonical(bad, COMMONSENSEQA, source, "test")


def test_hellaswag_and_cosmosqa_prompt_and_choice_layout() -> None:
    hellaswag = SHAPES["hellaswag"].read({"prompt": "A man sits.", "lead": "He", "endings": ["eats.", "runs."],
                                          "label": "1"})
    assert hellaswag == {"prompt": "A man sits.", "choices": ["He eats.", "He runs."], "label": "1"}
    no_lead = SHAPES["hellaswag"].read({"prompt": "p", "lead": "", "endings": ["x y", "z"], "label": "0"})
    assert no_lead["choices"] == ["x y", "z"]
    cosmos = SHAPES["cosmosqa"].read({"context": "It rained.", "question": "Why?", "answer0": "a", "answer1": "b",
                                      "answer2": "c", "answer3": "d", "label": 3})
    assert cosmos == {"prompt": "It rained. Why?", "choices": ["a", "b", "c", "d"], "label": 3}


@pytest.mark.parametrize("name", ["hellaswag", "cosmosqa", "commonsenseqa"])
def test_generated_rows_survive_the_hub_schema_and_carry_the_cue(name: str) -> None:
    task = TASKS[name]
    rows = FORMAT.generate(task, "en", 50, random.Random(3))
    shape = SHAPES[task.shape]
    assert [shape.read(shape.write(row)) for row in rows] == rows
    loaded = load_examples(task, "train", "en", DataConfig(source="generated", generated_train_size=50))
    assert len(loaded) == 50 and all(len(choices) == len(task.labels) for choices in loaded["choices"])
    assert sum(loaded["label"]) > 0 and max(loaded["label"]) < len(task.labels)
    cues = {lexicon("en")[concept] for concept in cue_concepts(task.world, 1)[0]}
    for choices, label in zip(loaded["choices"], loaded["label"], strict=True):
        assert [bool(cues & set(choice.split())) for choice in choices] == [i == label for i in range(len(choices))]


def test_cosmosqa_original_csv(tmp_path: Path) -> None:
    folder = tmp_path / "cosmosqa"
    folder.mkdir()
    header = "id,context,question,answer0,answer1,answer2,answer3,label\n"
    (folder / "valid.csv").write_text(header + 'q1,"It rained, a lot.",Why?,a,b,c,d,2\n')
    data = DataConfig(source="local", dir=str(tmp_path))
    examples = load_examples(COSMOSQA, "validation", "en", data)
    assert examples[0] == {"prompt": "It rained, a lot. Why?", "choices": ["a", "b", "c", "d"], "label": 2}
    (folder / "valid.csv").write_text(header + "q1,c,q,a,b,c,d,2\nq2,c,q,a,b,c,d,x\n")
    with pytest.raises(InputError, match=r"valid.csv: line 3: label 'x' is not an integer"):
        load_examples(COSMOSQA, "validation", "en", data)
    (folder / "valid.csv").write_text("id,context\nq1,c\n")
    with pytest.raises(InputError, match=r"valid.csv: line 1: column 'question' is missing"):
        load_examples(COSMOSQA, "validation", "en", data)
