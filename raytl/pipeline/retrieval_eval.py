"""The `embed` target phase (formats whose `target_phase` is "embed": Tatoeba, BUCC): no training, so each target
is evaluated once per encoder and the result cached in the run; every trial with the same intermediate encoder
reuses it. Only the format contract is used: `encode`, `head` (the pooling of the chosen hidden layer), `calibrate`
(on dev only), `decode`, `references`, `submission`. Embedding is sharded across the trial's workers, in inference
precision, under no-grad."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from raytl.config import NO_INTERMEDIATE
from raytl.models.zoo import retrieval_layer
from raytl.pipeline.context import TrialContext, encoded, load_encoder
from raytl.pipeline.phase_id import intermediate_phase_id
from raytl.pipeline.progress import TargetResult, TrialRecord
from raytl.tasks import TASKS, Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.metrics import METRICS
from raytl.tasks.scoring import task_score
from raytl.training.batching import collate, sorted_batches


def evaluate_retrieval(trial: TrialContext, target: str, encoder_dir: Path | None, record: TrialRecord) -> None:
    """Score `target` with the encoder in `encoder_dir` (or the base encoder), record it as a finished target:
    its dev selection score (from its own dev data, or that of `dev_from`) and its test scores (reported only)."""
    task = TASKS[target]
    layer = retrieval_layer(trial.entry, trial.space.retrieval.layer)
    cache = trial.run.root / "retrieval" / f"{_encoder_key(trial)}-{task.name}-layer{layer}.json"
    # rank 0 reads the shared cache once and every rank follows its answer: a concurrent trial writing the cache
    # between two ranks' reads would otherwise send one rank into the embedding collectives alone
    result = trial.ranks.broadcast(trial.run.read_json(cache) if trial.ranks.is_main else None)
    if result is None:
        result = _evaluate(trial, target, encoder_dir, layer)
        if trial.ranks.is_main:
            trial.run.write_json(cache, result)
    if trial.ranks.is_main:
        for lang, (suffix, text) in result["submissions"].items():
            trial.run.write_text(trial.run.predictions(trial.trial_id) / task.name / f"test-{lang}{suffix}", text)
    dev_task = TASKS[task.dev_from or task.name]
    record.finish_target(target, TargetResult(
        dev=task_score(dev_task.name, result["dev_languages"]), step=0, dev_languages=result["dev_languages"],
        score=task_score(task.name, result["languages"]), languages=result["languages"],
    ), steps=0)
    record.report({"retrieval_layer": layer, "retrieval_pooling": "mean"})


def _encoder_key(trial: TrialContext) -> str:
    params = trial.params
    if params.intermediate == NO_INTERMEDIATE:
        return f"base-{params.model}-seed{params.seed}"
    return intermediate_phase_id(trial.space, params)


def _evaluate(trial: TrialContext, target: str, encoder_dir: Path | None, layer: int) -> dict[str, Any]:
    """Dev first (a format that fits a threshold, BUCC's, fits it there), then test with the dev-fitted
    thresholds of the same task and language."""
    task = TASKS[target]
    dev_task = TASKS[task.dev_from or task.name]
    encoder = _inference_encoder(trial, encoder_dir)
    dev_languages, thresholds = {}, {}
    for lang in dev_task.selection_languages(trial.space.selection):
        examples, rows, embeddings = _embedded(trial, encoder, dev_task, "validation", lang, layer)
        thresholds[lang] = FORMATS[dev_task.format].calibrate(embeddings, rows, examples, dev_task)
        dev_languages[lang], _ = _retrieve(dev_task, lang, examples, rows, embeddings, thresholds[lang])
    languages, submissions = {}, {}
    for lang in task.languages:
        threshold = thresholds.get(lang) if dev_task is task else None
        examples, rows, embeddings = _embedded(trial, encoder, task, "test", lang, layer)
        languages[lang], submissions[lang] = _retrieve(task, lang, examples, rows, embeddings, threshold)
    return {"dev_task": dev_task.name, "dev_languages": dev_languages, "languages": languages,
            "submissions": submissions, "thresholds": {k: v for k, v in thresholds.items() if v is not None},
            "layer": layer, "pooling": "mean over non-pad tokens"}


def _retrieve(task: Task, lang: str, examples: Dataset, rows: list[dict], embeddings: torch.Tensor,
              threshold: float | None) -> tuple[dict[str, float], tuple[str, str]]:
    """One language of one split: its metrics and its submission file (suffix, text)."""
    fmt = FORMATS[task.format]
    predictions = fmt.decode(embeddings, rows, examples, task, threshold)
    metrics = METRICS[task.metric](predictions, fmt.references(examples, task, rows), lang)
    return metrics, fmt.submission(predictions, examples)


def _inference_encoder(trial: TrialContext, encoder_dir: Path | None) -> torch.nn.Module:
    encoder = load_encoder(trial, encoder_dir).eval()
    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        encoder = encoder.to(device="cuda", dtype=dtype)
    return encoder


def _embedded(trial: TrialContext, encoder: torch.nn.Module, task: Task, split: str, lang: str, layer: int
              ) -> tuple[Dataset, list[dict], torch.Tensor]:
    """The split's examples, their encoded rows and one pooled embedding per row (in row order)."""
    examples, rows = encoded(trial, task, split, lang, trial.space.retrieval.max_length)
    pooling = FORMATS[task.format].head(encoder.config, task)
    return examples, rows, torch.from_numpy(_embed(trial, encoder, pooling, rows, layer))


@torch.no_grad()
def _embed(trial: TrialContext, encoder: torch.nn.Module, pooling: torch.nn.Module, rows: list[dict], layer: int
           ) -> np.ndarray:
    """`pooling` of `hidden_states[layer]` for every row; each rank embeds a share of the length-sorted batches."""
    device = next(encoder.parameters()).device
    pad_id = trial.tokenizer.pad_token_id
    batches = sorted_batches([len(row["input_ids"]) for row in rows], trial.space.retrieval.batch_size)
    mine: list[tuple[np.ndarray, np.ndarray]] = []
    for indices in batches[trial.ranks.rank :: trial.ranks.world]:
        batch = {name: value.to(device) for name, value in collate([rows[int(i)] for i in indices], pad_id).items()}
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         output_hidden_states=True).hidden_states[layer]
        mine.append((np.asarray(indices), pooling(hidden, batch).cpu().numpy()))
    out = np.zeros((len(rows), encoder.config.hidden_size), dtype=np.float32)
    for part in trial.ranks.gather(mine):
        for indices, pooled in part:
            out[indices] = pooled
    return out
