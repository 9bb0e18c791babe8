"""`raytl export`: a trial's targets (the layout training saves) as Hugging Face task models that load with their
Auto classes, run in `transformers.pipeline`, and predict what raytl's own model predicts."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import transformers
import yaml
from datasets import Dataset
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer, pipeline

from raytl.config import load_space, parse_space
from raytl.errors import InputError
from raytl.models import hf_export
from raytl.models.task_model import TaskModel, build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO, retrieval_layer
from raytl.pipeline.export import export_trial
from raytl.pipeline.phase_id import TrialParams, intermediate_phase_id
from raytl.pipeline.run_dir import RunDir, write_json
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.tasks.sentence_retrieval import mean_pool
from raytl.training.batching import collate
from tests.conftest import tiny_space

TOKENIZER = load_tokenizer(ZOO["tiny"])
PARAMS = {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 1e-3, "lr_target": 2e-3, "seed": 0}
AUTO_CLASSES = {"xnli": "AutoModelForSequenceClassification", "panx": "AutoModelForTokenClassification",
                "xquad": "AutoModelForQuestionAnswering", "hellaswag": "AutoModelForMultipleChoice"}


def _best(run: RunDir, trial: str, target: str, seed: int, centre: bool = False) -> TaskModel:
    """What `save_best` (raytl/pipeline/target_phase.py) writes: encoder/ (save_pretrained), head.safetensors,
    head.json; returns raytl's model with those weights. The head is drawn wide; `centre` moves the classes' mean
    logits on generated rows to 0 (a random tiny encoder's first token varies little, one class would win all)."""
    task = TASKS[target]
    encoder = build_encoder(ZOO["tiny"], TOKENIZER, seed=seed)
    head = FORMATS[task.format].head(encoder.config, task)
    torch.manual_seed(seed)
    for parameter in head.parameters():
        torch.nn.init.normal_(parameter)
    if centre:
        with torch.no_grad():
            head.out_proj.bias -= _raytl_logits(TaskModel(encoder, head).eval(), _features(target)[1]).mean(0)
    best = run.trial(trial) / "best" / target
    encoder.save_pretrained(best / "encoder")
    save_file(head.state_dict(), best / "head.safetensors")
    (best / "head.json").write_text(json.dumps({"task": target, "format": task.format, "labels": task.labels,
                                                "hidden_size": 64}))
    return TaskModel(encoder, head).eval()


def _summary(run: RunDir, trial: str, targets: list[str], **params: object) -> None:
    result = {"score": 61.0, "dev_en": 70.0, "selected_step": 8, "languages": {"en": {"accuracy": 70.0}}}
    write_json(run.summary(trial), {"trial_id": trial, "status": "completed", "config": PARAMS | params,
                                    "objective": 61.0, "targets": {t: result for t in targets}})


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.space.write_text(yaml.safe_dump(parse_space(tiny_space(tmp_path)).model_dump(mode="json")))
    _summary(run, "t1", ["xnli"])
    return run


def _features(target: str, count: int = 12) -> tuple[Dataset, Dataset]:
    task = TASKS[target]
    fmt = FORMATS[task.format]
    examples = Dataset.from_list(fmt.generate(task, "en", count, random.Random(1)))
    return examples, fmt.encode(examples, TOKENIZER, 512, task)  # one window per row, as the pipelines see it


@torch.no_grad()
def _raytl_logits(model: TaskModel, features: Dataset) -> torch.Tensor:
    return model(collate(list(features), TOKENIZER.pad_token_id))


def test_exports_load_with_their_auto_classes_and_give_raytl_logits(run: RunDir, tmp_path: Path) -> None:
    models = {target: _best(run, "t1", target, seed) for seed, target in enumerate(AUTO_CLASSES)}
    _summary(run, "t1", list(AUTO_CLASSES))
    out = export_trial(run, "t1", tmp_path / "out")
    for target, auto_class in AUTO_CLASSES.items():
        files = {p.name for p in (out / target).iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= files and not files & {"head.json"}
        model, info = getattr(transformers, auto_class).from_pretrained(out / target, output_loading_info=True)
        assert not any(info.values()), (target, info)
        task = TASKS[target]
        assert model.config.architectures == [type(model).__name__]
        assert model.config.id2label == dict(enumerate(task.labels or ("start", "end")))
        _, features = _features(target)
        batch = collate(list(features), TOKENIZER.pad_token_id)
        with torch.no_grad():
            output = model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        theirs = hf_export.HF_TASKS[task.format].logits(output)
        torch.testing.assert_close(theirs, _raytl_logits(models[target], features), rtol=1e-5, atol=1e-5)
    assert AutoTokenizer.from_pretrained(out / "xnli")("hello").input_ids[0] == 0
    meta = json.loads((out / "export.json").read_text())
    assert meta["config"]["intermediate"] == "mnli" and meta["targets"]["xnli"]["selected_step"] == 8
    assert meta["targets"]["hellaswag"]["class"] == "XLMRobertaForMultipleChoice"
    assert "languages" not in meta["targets"]["xnli"]
    assert not list(tmp_path.glob(".tmp-*")), "no temporary directory is left behind"


def test_pipelines_predict_what_raytl_predicts(run: RunDir, tmp_path: Path) -> None:
    classifier, tagger = _best(run, "t1", "xnli", seed=3, centre=True), _best(run, "t1", "panx", seed=4)
    _summary(run, "t1", ["xnli", "panx"])
    out = export_trial(run, "t1", tmp_path / "out")

    examples, features = _features("xnli")
    ours = FORMATS["classification"].decode(_raytl_logits(classifier, features), features, examples, TASKS["xnli"])
    texts = pipeline("text-classification", model=str(out / "xnli"))(
        [{"text": row["text_a"], "text_pair": row["text_b"]} for row in examples])
    assert [row["label"] for row in texts] == ours and len(set(ours)) > 1

    examples, features = _features("panx")
    ours = FORMATS["tagging"].decode(list(_raytl_logits(tagger, features)), features, examples, TASKS["panx"])
    tag = pipeline("token-classification", model=str(out / "panx"), ignore_labels=[])
    theirs = []
    for words in examples["tokens"]:
        encoded = tag.tokenizer(" ".join(words))
        first = {encoded.word_ids().index(word): word for word in range(len(words))}  # each word's first sub-word
        tags = {token["index"]: token["entity"] for token in tag(" ".join(words))}
        theirs.append([tags[index] for index in sorted(first)])
    assert theirs == ours and len({t for sentence in ours for t in sentence}) > 1


def test_retrieval_targets_export_the_encoder_they_were_scored_with(run: RunDir, tmp_path: Path) -> None:
    space = load_space(run.space)
    _summary(run, "t1", ["tatoeba"], intermediate="none", seed=5)
    _summary(run, "t2", ["tatoeba", "bucc2018"])
    published = build_encoder(ZOO["tiny"], TOKENIZER, seed=9)
    run.phase_store().publish(intermediate_phase_id(space, TrialParams(**PARAMS)), published.save_pretrained, {})
    scored = {"t1": build_encoder(ZOO["tiny"], TOKENIZER, seed=5), "t2": published}
    layer = retrieval_layer(ZOO["tiny"], space.retrieval.layer)
    examples, features = _features("tatoeba")
    batch = collate(list(features), TOKENIZER.pad_token_id)
    for trial, encoder in scored.items():
        out = export_trial(run, trial, tmp_path / trial)
        model, info = AutoModel.from_pretrained(out / "tatoeba", output_loading_info=True)
        assert not any(info.values()), info
        record = model.config.raytl_sentence_embedding
        assert record["hidden_states_index"] == layer and record["max_length"] == space.retrieval.max_length
        with torch.no_grad():
            theirs = model(**batch, output_hidden_states=True).hidden_states[record["hidden_states_index"]]
            ours = encoder.eval()(**batch, output_hidden_states=True).hidden_states[layer]
        assert torch.equal(mean_pool(theirs, batch["attention_mask"]), mean_pool(ours, batch["attention_mask"]))
        assert not model.pooler.dense.weight.any(), "the untrained pooler is written as zeros"
    assert {p.name for p in (tmp_path / "t2").iterdir()} == {"tatoeba", "bucc2018", "export.json"}


def test_multiple_choice_logits_are_checked_against_raytl(run: RunDir, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The multiple-choice export is only right with its classifier rescaled for the near-identity pooler; the
    export's own check sees the difference when it is not."""
    _best(run, "t1", "hellaswag", seed=2)
    _summary(run, "t1", ["hellaswag"])
    unscaled = replace(hf_export.HF_TASKS["multiple_choice"], scale={})
    monkeypatch.setattr(hf_export, "HF_TASKS", {**hf_export.HF_TASKS, "multiple_choice": unscaled})
    with pytest.raises(InputError, match="computes other logits than raytl's multiple_choice head"):
        export_trial(run, "t1", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".tmp-*"))


def test_export_default_location_and_refusals(run: RunDir, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no trial 'nope'; allowed: t1"):
        export_trial(run, "nope")
    with pytest.raises(InputError, match="no best weights yet"):
        export_trial(run, "t1")
    _best(run, "t1", "xnli", seed=3)
    assert export_trial(run, "t1") == (run.root / "export" / "t1").resolve()
    with pytest.raises(InputError, match="--out exists"):
        export_trial(run, "t1")
    best = run.trial("t1") / "best" / "xnli"
    save_file({"dense.weight": torch.zeros(3, 64)}, best / "head.safetensors")
    with pytest.raises(InputError, match="head weights do not fit raytl's classification head"):
        export_trial(run, "t1", tmp_path / "other")
    torch.save({"w": torch.zeros(1)}, best / "encoder" / "pytorch_model.bin")
    with pytest.raises(InputError, match="expected safetensors weights, found pytorch_model.bin"):
        export_trial(run, "t1", tmp_path / "other")
    _summary(run, "t3", ["tatoeba"])
    with pytest.raises(InputError, match="intermediate encoder is not in the phase store"):
        export_trial(run, "t3", tmp_path / "third")


def test_cli_export_and_its_one_line_error(run: RunDir, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "raytl", "export", str(run.root), "--trial", "t1"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: ")
    _best(run, "t1", "xnli", seed=3)
    done = subprocess.run([*command, "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x" / "xnli" / "model.safetensors").is_file()
