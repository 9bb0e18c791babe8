"""`raytl export`: the trial's best encoder and head (the layout training saves) as Hugging Face model directories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoTokenizer

from raytl.config import parse_space
from raytl.errors import InputError
from raytl.models.task_model import build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO
from raytl.pipeline.export import export_trial
from raytl.pipeline.run_dir import RunDir, write_json
from tests.conftest import tiny_space


def _best(run: RunDir, trial: str, target: str, seed: int) -> tuple[dict, dict]:
    """What `save_best` (raytl/pipeline/target_phase.py) writes: encoder/ (save_pretrained), head.safetensors,
    head.json."""
    encoder = build_encoder(ZOO["tiny"], load_tokenizer(ZOO["tiny"]), seed=seed)
    best = run.trial(trial) / "best" / target
    encoder.save_pretrained(best / "encoder")
    head = {"dense.weight": torch.randn(3, 64), "dense.bias": torch.randn(3)}
    save_file(head, best / "head.safetensors")
    (best / "head.json").write_text(json.dumps({"task": target, "format": "classification",
                                                "labels": ["entailment", "neutral", "contradiction"]}))
    return encoder.state_dict(), head


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.space.write_text(yaml.safe_dump(parse_space(tiny_space(tmp_path)).model_dump(mode="json")))
    config = {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 1e-3, "lr_target": 2e-3, "seed": 0}
    write_json(run.summary("t1"), {"trial_id": "t1", "status": "completed", "config": config, "objective": 61.0,
                                   "targets": {"xnli": {"score": 61.0, "dev_en": 70.0, "selected_step": 8,
                                                        "languages": {"en": {"accuracy": 70.0}}}}})
    return run


def test_export_writes_loadable_hugging_face_directories(run: RunDir, tmp_path: Path) -> None:
    encoder, head = _best(run, "t1", "xnli", seed=3)
    out = export_trial(run, "t1", tmp_path / "out")
    target = out / "xnli"
    assert {"config.json", "model.safetensors", "head.safetensors", "head.json", "tokenizer.json"} <= {
        p.name for p in target.iterdir()}
    assert not [p for p in target.iterdir() if p.suffix in (".bin", ".pt", ".pkl")]
    loaded = AutoModel.from_pretrained(target, add_pooling_layer=False, use_safetensors=True).state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in encoder.items())
    assert all(torch.equal(load_file(target / "head.safetensors")[k], v) for k, v in head.items())
    assert json.loads((target / "head.json").read_text())["labels"][0] == "entailment"
    assert AutoTokenizer.from_pretrained(target)("hello").input_ids[0] == 0
    meta = json.loads((out / "export.json").read_text())
    assert meta["config"]["intermediate"] == "mnli" and meta["targets"]["xnli"]["selected_step"] == 8
    assert "languages" not in meta["targets"]["xnli"]
    assert not list(tmp_path.glob(".tmp-*")), "no temporary directory is left behind"


def test_export_default_location_and_refusals(run: RunDir, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no trial 'nope'; allowed: t1"):
        export_trial(run, "nope")
    with pytest.raises(InputError, match="no best weights yet"):
        export_trial(run, "t1")
    _best(run, "t1", "xnli", seed=3)
    assert export_trial(run, "t1") == (run.root / "export" / "t1").resolve()
    with pytest.raises(InputError, match="--out exists"):
        export_trial(run, "t1")
    torch.save({"w": torch.zeros(1)}, run.trial("t1") / "best" / "xnli" / "encoder" / "pytorch_model.bin")
    with pytest.raises(InputError, match="expected safetensors weights, found pytorch_model.bin"):
        export_trial(run, "t1", tmp_path / "other")


def test_cli_export_and_its_one_line_error(run: RunDir, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "raytl", "export", str(run.root), "--trial", "t1"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: ")
    _best(run, "t1", "xnli", seed=3)
    done = subprocess.run([*command, "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x" / "xnli" / "model.safetensors").is_file()
