"""Hub models at a pinned revision, and checkpoints that ship only `pytorch_model.bin` (XLM-R XXL's main revision):
loaded exactly through the real path, while a `.bin` that pickles anything but tensors is refused unrun."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import XLMRobertaConfig, XLMRobertaModel

from raytl.config import parse_space
from raytl.errors import InputError
from raytl.models import hub, task_model, tokenizer
from raytl.models.task_model import build_encoder
from raytl.models.tokenizer import load_tokenizer
from raytl.models.zoo import ZOO, resolve_model
from tests.conftest import tiny_space, write_space
from tests.test_zoo import save_tiny_hub_model


def _save_bin_model(directory: Path, state: dict[str, object] | None = None) -> XLMRobertaModel:
    """A model directory as XLM-R XXL's hub repository is: config.json, tokenizer files, pytorch_model.bin only."""
    base = load_tokenizer(ZOO["tiny"])
    config = XLMRobertaConfig(vocab_size=len(base), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, type_vocab_size=1, pad_token_id=base.pad_token_id)
    torch.manual_seed(0)
    model = XLMRobertaModel(config, add_pooling_layer=False)
    config.save_pretrained(directory)
    base.save_pretrained(directory)
    torch.save(model.state_dict() if state is None else state, directory / "pytorch_model.bin")
    return model


class _Payload:
    """Unpickling this runs a shell command: what a hostile `.bin` would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_a_bin_only_checkpoint_loads_exactly(tmp_path: Path) -> None:
    model = _save_bin_model(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir() if "model" in p.name) == ["pytorch_model.bin"]
    entry = resolve_model(f"hub:{tmp_path / 'm'}")
    loaded = build_encoder(entry, load_tokenizer(entry), seed=1).state_dict()
    assert set(loaded) == set(model.state_dict())
    assert all(torch.equal(loaded[name], tensor) for name, tensor in model.state_dict().items())


def test_a_bin_holding_more_than_tensors_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    model = _save_bin_model(tmp_path / "m")  # the payload rides in an otherwise ordinary state dict
    torch.save({**model.state_dict(), "payload": _Payload(marker)}, tmp_path / "m" / "pytorch_model.bin")
    entry = resolve_model(f"hub:{tmp_path / 'm'}")
    with pytest.raises(InputError, match=r"m: its .bin weights hold more than tensors and were refused, nothing in "
                                         r"them ran \(.*GLOBAL posix.system.*\); allowed: safetensors weights"):
        build_encoder(entry, load_tokenizer(entry), seed=1)
    assert not marker.exists(), "unpickling ran the payload"


def test_the_revision_reaches_every_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_tiny_hub_model(tmp_path / "m")
    calls: list[tuple[str, object]] = []

    def recording(module: object, cls: str) -> None:
        real = getattr(module, cls).from_pretrained

        def from_pretrained(source: object, *args: object, **kwargs: object) -> object:
            calls.append((cls, kwargs.get("revision", "<absent>")))
            return real(source, *args, **kwargs)

        monkeypatch.setattr(getattr(module, cls), "from_pretrained", from_pretrained)

    entry = replace(resolve_model(f"hub:{tmp_path / 'm'}"), revision="0123abcd")  # local files ignore revisions
    for module, cls in ((task_model, "AutoConfig"), (task_model, "AutoModel"), (tokenizer, "AutoTokenizer")):
        recording(module, cls)
    build_encoder(entry, load_tokenizer(entry), seed=0)
    # every call carries it (AutoTokenizer also reads the config, passing the revision on)
    assert set(calls) == {("AutoConfig", "0123abcd"), ("AutoModel", "0123abcd"), ("AutoTokenizer", "0123abcd")}


def test_a_hub_name_pins_its_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, object]] = []

    def from_pretrained(hub_id: str, **kwargs: object) -> XLMRobertaConfig:
        asked.append((hub_id, kwargs["revision"]))
        return XLMRobertaConfig(vocab_size=100, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                intermediate_size=32)

    monkeypatch.setattr(hub.AutoConfig, "from_pretrained", from_pretrained)
    pinned = resolve_model("hub:facebook/xlm-roberta-xxl@refs/pr/7")
    main = resolve_model("hub:raytl-test/encoder")
    assert (pinned.hub_id, pinned.revision, main.hub_id, main.revision) == (
        "facebook/xlm-roberta-xxl", "refs/pr/7", "raytl-test/encoder", None)
    assert asked == [("facebook/xlm-roberta-xxl", "refs/pr/7"), ("raytl-test/encoder", None)]
    assert all(entry.revision is None for entry in ZOO.values())  # main, until a commit can be stated (README)


@pytest.mark.parametrize("name", ["hub:x@", "hub:@v1", "hub:x@a b", "hub:x@../main", "hub:x@-rf"])
def test_a_malformed_hub_name_is_one_line(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match=rf"models: '{name}' is not a hub model name; allowed: "
                                         r"hub:<owner/name>@<branch, tag or commit>"):
        parse_space(tiny_space(tmp_path, models=["tiny", name]))


def test_a_malformed_hub_name_exits_2_through_the_cli(tmp_path: Path) -> None:
    path = write_space(tmp_path / "bad.yaml", tiny_space(tmp_path / "runs", models=["tiny", "hub:x@"]))
    done = subprocess.run([sys.executable, "-m", "raytl", "plan", str(path)], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml: models: 'hub:x@' is not a hub model name" in lines[0]


def test_a_directory_keeps_an_at_sign_in_its_path(tmp_path: Path) -> None:
    save_tiny_hub_model(tmp_path / "m@v2")
    entry = resolve_model(f"hub:{tmp_path / 'm@v2'}")
    assert (entry.hub_id, entry.revision, entry.layers) == (str(tmp_path / "m@v2"), None, 2)
