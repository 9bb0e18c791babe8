"""`raytl export`: a trial's targets as Hugging Face task models that `from_pretrained` and `pipeline(...)` run as
they are. Per target, `OUT/<target>/` holds config.json (id2label/label2id, architectures), safetensors weights and
the tokenizer; `OUT/export.json` the trial's parameters, scores, selected steps and each target's class:

    classification    XLMRobertaForSequenceClassification   pipeline("text-classification")
    tagging           XLMRobertaForTokenClassification      pipeline("token-classification")
    span_qa           XLMRobertaForQuestionAnswering        AutoModelForQuestionAnswering
    multiple_choice   XLMRobertaForMultipleChoice           AutoModelForMultipleChoice (a near-identity pooler)
    retrieval         XLMRobertaModel                        AutoModel; config `raytl_sentence_embedding` records
                                                             the hidden layer, pooling and max length scored

(for another encoder family, its own Auto classes; see `raytl.models.hf_export`). Trained targets come from what
training saved on every English-dev improvement, `RUN_DIR/trials/<id>/best/<target>/` (`encoder/`,
`head.safetensors`, `head.json`); retrieval targets, never trained, from the encoder they were scored with: the
trial's intermediate phase in the phase store (checksums verified on reading) or the base encoder.

Only safetensors are read from the run (a pickle-based weight file is refused). Each exported model is loaded back
with its Auto class, must report no missing or unexpected key, hold every tensor unchanged and give raytl's logits,
before the directory is renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.errors import InputError
from raytl.models.zoo import ModelEntry
from raytl.pipeline import storage
from raytl.pipeline.phase_id import TrialParams, intermediate_phase_id
from raytl.pipeline.run_dir import RunDir, write_json
from raytl.tasks import TASKS, Task
from raytl.tasks.formats import FORMATS

HEAD_FILES = ("head.safetensors", "head.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def best_targets(run: RunDir, trial_id: str) -> dict[str, Path]:
    """target -> its saved best directory (downloaded first for a run on an object store); InputError naming the
    trials that exist when there is no such trial."""
    trial_dir = run.trial(trial_id)
    if run.remote and run.exists(trial_dir / "best"):
        storage.download_dir(run.uri(trial_dir / "best"), str(trial_dir / "best"))
    if not trial_dir.is_dir():
        known = sorted(p.name for p in (run.root / "trials").iterdir()) if (run.root / "trials").is_dir() else []
        raise InputError(f"{run.root}: --trial: no trial '{trial_id}'; allowed: {', '.join(known) or 'none yet'}")
    return {p.name: p for p in sorted((trial_dir / "best").glob("*")) if p.is_dir() and not p.name.startswith(".")}


def retrieval_targets(summary: dict[str, Any]) -> list[str]:
    """The finished targets of a trial that were scored on embeddings (never trained, so not under `best/`)."""
    return [target for target in summary.get("targets", {})
            if target in TASKS and FORMATS[TASKS[target].format].target_phase == "embed"]


def export_trial(run: RunDir, trial_id: str, out: Path | None = None) -> Path:
    """Write every target of `trial_id` as a Hugging Face task model under `out` (default RUN_DIR/export/<trial_id>),
    e.g. `export_trial(RunDir(Path("runs/quickstart")), "81261a0b")` -> `runs/quickstart/export/81261a0b`
    (absolute); then `pipeline("text-classification", model=".../export/81261a0b/xnli")`."""
    from raytl.config import load_space
    from raytl.models.tokenizer import load_tokenizer
    from raytl.models.zoo import resolve_model

    trained = best_targets(run, trial_id)
    summary = _summary(run, trial_id)
    embedded = retrieval_targets(summary)
    if not trained and not embedded:
        raise InputError(f"{run.trial(trial_id)}: no best weights yet (saved at the first English-dev evaluation "
                         "of a target)")
    out = (out or run.root / "export" / trial_id).resolve()
    if out.exists():
        raise InputError(f"{out}: --out exists; allowed: a new directory")
    space = load_space(run.space) if run.space.is_file() else None
    params = TrialParams(**summary["config"])
    entry = resolve_model(params.model, space is not None and params.model in space.trust_remote_code)
    tmp = out.with_name(f".tmp-{out.name}-{uuid.uuid4().hex[:8]}")
    try:
        classes = {target: _export_trained(source, tmp / target, entry) for target, source in trained.items()}
        for target in embedded:
            classes[target] = _export_retrieval(run, space, params, entry, TASKS[target], tmp / target)
        tokenizer = load_tokenizer(entry)
        for target in classes:
            tokenizer.save_pretrained(tmp / target)
        results = summary.get("targets", {})
        write_json(tmp / "export.json", {"trial_id": trial_id, "config": summary.get("config"),
                                          "objective": summary.get("objective"), "targets": {
                                              t: {"class": c, **{k: v for k, v in results.get(t, {}).items()
                                                                 if k != "languages"}}
                                              for t, c in classes.items()}})
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _export_trained(source: Path, dest: Path, entry: ModelEntry) -> str:
    from safetensors.torch import load_file

    from raytl.models.hf_export import write_task_model
    from raytl.models.task_model import load_encoder_dir

    _safetensors_only(source / "encoder")
    missing = [name for name in HEAD_FILES if not (source / name).is_file()]
    if missing:
        raise InputError(f"{source}: missing {', '.join(missing)}")
    task = _task(source / "head.json")
    head = load_file(source / "head.safetensors")
    return write_task_model(load_encoder_dir(source / "encoder", entry), head, task, dest, entry.trust_remote_code)


def _export_retrieval(run: RunDir, space: SearchSpace | None, params: TrialParams, entry: ModelEntry, task: Task,
                      dest: Path) -> str:
    from raytl.models.hf_export import write_task_model
    from raytl.models.zoo import retrieval_layer

    if space is None:
        raise InputError(f"{run.space}: missing; exporting {task.name} needs the run's retrieval settings")
    record = {"raytl_sentence_embedding": {"hidden_states_index": retrieval_layer(entry, space.retrieval.layer),
                                           "pooling": "mean over attention_mask",
                                           "max_length": space.retrieval.max_length}}
    return write_task_model(_scored_encoder(run, space, params, entry), {}, task, dest, entry.trust_remote_code,
                            record)


def _scored_encoder(run: RunDir, space: SearchSpace, params: TrialParams, entry: ModelEntry) -> nn.Module:
    """The encoder the trial's retrieval targets embedded with: its intermediate phase's, or the base encoder."""
    from raytl.models.task_model import build_encoder, load_encoder_dir
    from raytl.models.tokenizer import load_tokenizer

    if params.intermediate == NO_INTERMEDIATE:
        return build_encoder(entry, load_tokenizer(entry), params.seed)
    phase_id = intermediate_phase_id(space, params)
    directory = run.phase_store().verified(phase_id)
    if directory is None:
        raise InputError(f"{run.phases_location}/{phase_id}: the trial's intermediate encoder is not in the phase "
                         "store (removed by `raytl store gc`, or the code changed since the run); its retrieval "
                         "targets were scored with it")
    _safetensors_only(directory)
    return load_encoder_dir(directory, entry)


def _safetensors_only(directory: Path) -> None:
    files = [p for p in sorted(directory.iterdir()) if p.is_file()] if directory.is_dir() else []
    unsafe = [p.name for p in files if p.suffix in PICKLE_SUFFIXES]
    if unsafe or not any(p.suffix == ".safetensors" for p in files):
        raise InputError(f"{directory}: expected safetensors weights, found {', '.join(unsafe) or 'none'}")


def _task(head_json: Path) -> Task:
    """The task a saved head was trained for, with the labels it was trained with (a CCG label file's, say)."""
    try:
        meta = json.loads(head_json.read_text())
        name, fmt, labels = meta["task"], meta["format"], tuple(meta["labels"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{head_json}: unreadable ({type(exc).__name__}: {exc}); allowed: the JSON training "
                         "writes, with task, format and labels") from None
    if name not in TASKS or TASKS[name].format != fmt:
        raise InputError(f"{head_json}: task '{name}' of format '{fmt}' is not in the task catalog")
    return replace(TASKS[name], labels=labels)


def _summary(run: RunDir, trial_id: str) -> dict[str, Any]:
    path = run.summary(trial_id)
    if not path.is_file():
        raise InputError(f"{path}: missing; the trial's parameters are needed to export it")
    return json.loads(path.read_text())
