"""An encoder and one raytl task head as the Hugging Face task model that computes the same logits.

`HF_TASKS` says, per format, which Auto class the export loads with and what raytl's head parameters are called
there. For the XLM-R family the Hugging Face heads compute what raytl's compute, with one exception: raytl's
multiple-choice head scores the first token's hidden state with one linear layer, while every `...ForMultipleChoice`
first passes it through the encoder's pooler, `tanh(dense(h))`. That export gets a near-identity pooler,
`dense = s * I` with `s = POOLER_SCALE` (a power of two, exact in every float format), and `classifier = score / s`:
`tanh(s * h) / s = h * (1 - (s * h)**2 / 3 + ...)`, so its logits are raytl's to a relative 2e-6 where |h| <= 10,
and so are its predictions (barring ties closer than that).

Retrieval formats export the plain encoder (`AutoModel`), whose default `add_pooling_layer=True` expects pooler
weights: raytl never trains that pooler (it mean-pools a hidden layer), so it is written as zeros, and
`pooler_output` is an all-zero vector nobody can mistake for a trained embedding.

`write_task_model` writes the directory and loads it back as the ecosystem will, refusing any missing, unexpected
or resized key, any tensor that changed on the way, and any architecture whose task head computes other logits than
raytl's (checked on a seeded random batch).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
import transformers
from huggingface_hub import save_torch_state_dict
from torch import nn

from raytl.errors import InputError
from raytl.models.task_model import TaskModel
from raytl.tasks.entry import Task
from raytl.tasks.formats import FORMATS

POOLER_SCALE = 2.0**-12


def _logits(output: Any) -> torch.Tensor:
    return output.logits


def _start_end(output: Any) -> torch.Tensor:
    return torch.stack([output.start_logits, output.end_logits], dim=-1)  # raytl's span head: [..., (start, end)]


@dataclass(frozen=True)
class HfTask:
    """How one format's head becomes a Hugging Face task model.

    `names`: raytl head parameter -> task model parameter; `labels`: fixed label names where the task has none (span
    QA's two columns); `pooler`: how to fill the encoder's pooler where the task class has one and raytl's head does
    not use it ("near_identity" or "zeros"); `scale`: factors for renamed head parameters, applied only when a pooler
    was filled; `logits`: the task model's output in the layout of raytl's logits (None: nothing to compare, the
    export is the encoder itself); `choices`: the head reads [rows, choices, tokens] batches."""

    auto_class: str
    names: Mapping[str, str]
    logits: Callable[[Any], torch.Tensor] | None = _logits
    labels: tuple[str, ...] = ()
    pooler: str = ""
    scale: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    choices: bool = False


def _pair(raytl: str, hf: str) -> dict[str, str]:
    return {f"{raytl}.weight": f"{hf}.weight", f"{raytl}.bias": f"{hf}.bias"}


_RETRIEVAL = HfTask("AutoModel", {}, logits=None, pooler="zeros")

HF_TASKS: Mapping[str, HfTask] = MappingProxyType({
    "classification": HfTask("AutoModelForSequenceClassification",
                             _pair("dense", "classifier.dense") | _pair("out_proj", "classifier.out_proj")),
    "tagging": HfTask("AutoModelForTokenClassification", _pair("out_proj", "classifier")),
    "span_qa": HfTask("AutoModelForQuestionAnswering", _pair("qa_outputs", "qa_outputs"), logits=_start_end,
                      labels=("start", "end")),
    "multiple_choice": HfTask("AutoModelForMultipleChoice", _pair("score", "classifier"), pooler="near_identity",
                              scale={"classifier.weight": 1 / POOLER_SCALE}, choices=True),
    "nearest_neighbour": _RETRIEVAL,
    "bitext_mining": _RETRIEVAL,
})
"""Format -> its Hugging Face task model (formats absent here, masked LM, are never a target)."""


def _pooler_tensor(kind: str, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    if kind == "near_identity" and len(shape) == 2 and shape[0] == shape[1]:
        return torch.eye(shape[0], dtype=dtype) * POOLER_SCALE
    return torch.zeros(shape, dtype=dtype)


def write_task_model(encoder: nn.Module, head: dict[str, torch.Tensor], task: Task, dest: Path,
                     trust_remote_code: bool = False, extra_config: Mapping[str, Any] | None = None) -> str:
    """Write `encoder` + raytl's `task.format` head weights `head` as a Hugging Face task model in `dest`
    (config.json with labels and architecture, safetensors weights), check it loads and computes raytl's logits, and
    return its class name. Pass the encoder without keeping a reference: it is released before the check reloads.

    `write_task_model(load_encoder_dir(best / "encoder", entry), load_file(best / "head.safetensors"), task, out)`
    """
    spec = HF_TASKS.get(task.format)
    if spec is None:
        raise InputError(f"{task.name}: format '{task.format}' has no Hugging Face task model; allowed: "
                         f"{', '.join(HF_TASKS)}")
    raytl_head = _raytl_head(task, encoder.config, head)
    config = copy.deepcopy(encoder.config)
    labels = spec.labels or task.labels
    if labels:
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: index for index, label in enumerate(labels)}
    config.update(dict(extra_config or {}))
    auto = getattr(transformers, spec.auto_class)
    shell = _shell(auto, config, trust_remote_code, task)
    config.architectures = [type(shell).__name__]
    tensors = _task_tensors(encoder, head, spec, shell)
    del encoder
    digests = {name: _digest(tensor) for name, tensor in tensors.items()}
    dest.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(dest)
    save_torch_state_dict(tensors, dest)
    del tensors
    model, info = auto.from_pretrained(dest, output_loading_info=True, trust_remote_code=trust_remote_code)
    problems = {kind: keys for kind, keys in info.items() if keys}
    if problems:
        raise RuntimeError(f"{dest}: {type(model).__name__} does not load exactly: {problems}")
    changed = sorted(name for name, tensor in model.state_dict().items() if _digest(tensor) != digests.get(name))
    if changed:
        raise RuntimeError(f"{dest}: tensors changed on the way: {', '.join(changed[:5])}")
    if spec.logits is not None:
        _check_logits(model.eval(), raytl_head.to(model.dtype).eval(), spec, task)
    return type(model).__name__


def _raytl_head(task: Task, config: Any, head: dict[str, torch.Tensor]) -> nn.Module:
    module = FORMATS[task.format].head(config, task)
    try:
        module.load_state_dict(head, strict=True)
    except RuntimeError as exc:
        raise InputError(f"{task.name}: head weights do not fit raytl's {task.format} head: "
                         f"{' '.join(str(exc).split())}") from None
    return module


def _shell(auto: Any, config: Any, trust_remote_code: bool, task: Task) -> nn.Module:
    """The task model on the meta device: its parameter names and shapes, nothing allocated."""
    try:
        with torch.device("meta"):
            return auto.from_config(config, trust_remote_code=trust_remote_code)
    except ValueError as exc:
        raise InputError(f"{task.name}: {auto.__name__} has no class for model type '{config.model_type}' "
                         f"({str(exc).splitlines()[0]})") from None


def _task_tensors(encoder: nn.Module, head: dict[str, torch.Tensor], spec: HfTask, shell: nn.Module
                  ) -> dict[str, torch.Tensor]:
    """Every tensor the task model expects: the encoder's under the task model's prefix, the head's renamed, and
    the pooler where the class has one (`scale` applies only then: it undoes the near-identity pooler's factor)."""
    prefix = "" if shell.base_model is shell else f"{shell.base_model_prefix}."
    tensors = {prefix + name: tensor for name, tensor in encoder.state_dict().items()}
    expected = shell.state_dict()
    dtype = next(iter(tensors.values())).dtype
    pooler = {name: _pooler_tensor(spec.pooler, value.shape, dtype) for name, value in expected.items()
              if spec.pooler and name.startswith(f"{prefix}pooler.") and name not in tensors}
    scale = spec.scale if pooler else {}
    renamed = {spec.names[name]: tensor for name, tensor in head.items()}
    tensors |= pooler | {name: tensor * scale[name] if name in scale else tensor for name, tensor in renamed.items()}
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    resized = sorted(name for name in set(expected) & set(tensors) if expected[name].shape != tensors[name].shape)
    if missing or unexpected or resized:
        raise InputError(f"{type(shell).__name__} does not take raytl's head as is: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, resized {resized[:5]}")
    return {name: tensor.contiguous() for name, tensor in tensors.items()}


def _digest(tensor: torch.Tensor) -> str:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    digest = hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    digest.update(flat.view(torch.uint8).numpy())  # hashed in place: a 2 GB embedding matrix is not copied
    return digest.hexdigest()


@torch.no_grad()
def _check_logits(model: nn.Module, head: nn.Module, spec: HfTask, task: Task) -> None:
    """The exported model and raytl's model (the same encoder with raytl's head) give the same logits on a seeded
    random batch with padding."""
    generator = torch.Generator().manual_seed(0)
    shape = (2, max(2, len(task.labels)), 8) if spec.choices else (2, 8)
    input_ids = torch.randint(3, model.config.vocab_size, shape, generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, ..., -3:] = 0
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    ours = TaskModel(model.base_model, head)(batch)
    theirs = spec.logits(model(**batch))
    tolerance = max(1e-4, 16 * torch.finfo(ours.dtype).eps) * max(1.0, ours.abs().max().item())
    difference = (ours - theirs).abs().max().item()
    if not difference <= tolerance:
        raise InputError(f"{task.name}: {type(model).__name__} computes other logits than raytl's {task.format} head "
                         f"(max difference {difference:.3g}); allowed: encoders whose Hugging Face task heads match "
                         "raytl's (the XLM-R family)")
