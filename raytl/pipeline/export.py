"""`raytl export`: a trial's English-dev-selected encoder and heads as Hugging Face model directories.

Reads what training saved on every English-dev improvement, `RUN_DIR/trials/<id>/best/<target>/` (`encoder/` from
`save_pretrained` in safetensors, `head.safetensors`, `head.json`), and writes per target

    OUT/<target>/config.json, model.safetensors      the encoder (AutoModel.from_pretrained(OUT/<target>))
    OUT/<target>/head.safetensors, head.json         the task head (format, task, labels)
    OUT/<target>/tokenizer files                      the model's tokenizer
    OUT/export.json                                   trial parameters, scores, selected steps

Only safetensors are read (a pickle-based weight file is refused); every copied file is checked against its source
and the encoder is loaded strictly before the directory is renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from raytl.errors import InputError
from raytl.pipeline import storage
from raytl.pipeline.run_dir import RunDir, write_json
from raytl.pipeline.store import sha256_file

HEAD_FILES = ("head.safetensors", "head.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def best_targets(run: RunDir, trial_id: str) -> dict[str, Path]:
    """target -> its saved best directory (downloaded first for a run on an object store); InputError naming what
    exists when the trial has none."""
    trial_dir = run.trial(trial_id)
    if run.remote and run.exists(trial_dir / "best"):
        storage.download_dir(run.uri(trial_dir / "best"), str(trial_dir / "best"))
    if not trial_dir.is_dir():
        known = sorted(p.name for p in (run.root / "trials").iterdir()) if (run.root / "trials").is_dir() else []
        raise InputError(f"{run.root}: --trial: no trial '{trial_id}'; allowed: {', '.join(known) or 'none yet'}")
    found = {p.name: p for p in sorted((trial_dir / "best").glob("*")) if p.is_dir() and not p.name.startswith(".")}
    if not found:
        raise InputError(f"{trial_dir}: no best weights yet (saved at the first English-dev evaluation of a target)")
    return found


def export_trial(run: RunDir, trial_id: str, out: Path | None = None) -> Path:
    """Write every target's best encoder + head of `trial_id` under `out` (default RUN_DIR/export/<trial_id>), e.g.
    `export_trial(RunDir(Path("runs/quickstart")), "81261a0b")` -> `runs/quickstart/export/81261a0b` (absolute)."""
    targets = best_targets(run, trial_id)
    out = (out or run.root / "export" / trial_id).resolve()
    if out.exists():
        raise InputError(f"{out}: --out exists; allowed: a new directory")
    summary = _summary(run, trial_id)
    tmp = out.with_name(f".tmp-{out.name}-{uuid.uuid4().hex[:8]}")
    try:
        for target, source in targets.items():
            _export_target(source, tmp / target, summary.get("config", {}), run)
        write_json(tmp / "export.json", {"trial_id": trial_id, "config": summary.get("config"),
                                          "objective": summary.get("objective"), "targets": {
                                              t: {k: v for k, v in r.items() if k != "languages"}
                                              for t, r in summary.get("targets", {}).items() if t in targets}})
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _export_target(source: Path, dest: Path, params: dict[str, Any], run: RunDir) -> None:
    encoder = source / "encoder"
    files = [p for p in sorted(encoder.iterdir()) if p.is_file()] if encoder.is_dir() else []
    unsafe = [p.name for p in files if p.suffix in PICKLE_SUFFIXES]
    if unsafe or not any(p.suffix == ".safetensors" for p in files):
        raise InputError(f"{encoder}: expected safetensors weights, found {', '.join(unsafe) or 'none'}")
    missing = [name for name in HEAD_FILES if not (source / name).is_file()]
    if missing:
        raise InputError(f"{source}: missing {', '.join(missing)}")
    dest.mkdir(parents=True)
    for path in [*files, *(source / name for name in HEAD_FILES)]:
        shutil.copyfile(path, dest / path.name)
        if sha256_file(dest / path.name) != sha256_file(path):
            raise RuntimeError(f"copy of {path} changed on the way to {dest}")
    _check_loads(dest, params, run)


def _check_loads(dest: Path, params: dict[str, Any], run: RunDir) -> None:
    """The exported encoder loads strictly, the head is readable safetensors, and the tokenizer goes beside them."""
    from safetensors.torch import load_file

    from raytl.config import load_space
    from raytl.models.task_model import load_encoder_dir
    from raytl.models.tokenizer import load_tokenizer
    from raytl.models.zoo import resolve_model

    trusted = load_space(run.space).trust_remote_code if run.space.is_file() else []
    entry = resolve_model(params["model"], params["model"] in trusted)
    load_encoder_dir(dest, entry)
    load_file(dest / "head.safetensors")
    json.loads((dest / "head.json").read_text())
    load_tokenizer(entry).save_pretrained(dest)


def _summary(run: RunDir, trial_id: str) -> dict[str, Any]:
    path = run.summary(trial_id)
    if not path.is_file():
        raise InputError(f"{path}: missing; the trial's parameters are needed to export it")
    return json.loads(path.read_text())
