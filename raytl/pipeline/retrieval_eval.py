"""Retrieval targets (BUCC, Tatoeba): no training, so each is evaluated once per encoder and the result cached in
the run; every trial with the same intermediate encoder reuses it. Embedding is sharded across the trial's workers,
in inference precision, under no-grad."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytl.config import NO_INTERMEDIATE
from raytl.models.zoo import retrieval_layer
from raytl.pipeline.context import TrialContext, encoded, load_encoder
from raytl.pipeline.phase_id import intermediate_phase_id
from raytl.pipeline.progress import TargetResult, TrialRecord
from raytl.tasks import TASKS, Task
from raytl.tasks.formats import FORMATS
from raytl.tasks.formats.retrieval import PROTOCOLS, Retrieval
from raytl.tasks.metrics import METRICS
from raytl.tasks.scoring import task_score
from raytl.tasks.sentence_retrieval import mean_pool
from raytl.training.batching import collate, sorted_batches


def evaluate_retrieval(trial: TrialContext, target: str, encoder_dir: Path | None, record: TrialRecord) -> None:
    """Score `target` with the encoder in `encoder_dir` (or the base encoder), record it as a finished target:
    its dev selection score (from its own dev data, or that of `dev_from`) and its test scores (reported only)."""
    task = TASKS[target]
    layer = trial.space.retrieval.layer
    layer = retrieval_layer(trial.entry, layer)
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
    """Dev first (BUCC fits its mining threshold there), then test with the dev-fitted thresholds."""
    task = TASKS[target]
    dev_task = TASKS[task.dev_from or task.name]
    encoder = _inference_encoder(trial, encoder_dir)
    dev_languages, thresholds = {}, {}
    for lang in dev_task.selection_languages(trial.space.selection):
        metrics, _, thresholds[lang] = _retrieve(trial, encoder, dev_task, "validation", lang, layer, None)
        dev_languages[lang] = metrics
    languages, submissions = {}, {}
    for lang in task.languages:
        threshold = thresholds.get(lang) if dev_task is task else None
        languages[lang], submissions[lang], _ = _retrieve(trial, encoder, task, "test", lang, layer, threshold)
    return {"dev_task": dev_task.name, "dev_languages": dev_languages, "languages": languages,
            "submissions": submissions, "thresholds": {k: v for k, v in thresholds.items() if v is not None},
            "layer": layer, "pooling": "mean over non-pad tokens"}


def _retrieve(trial: TrialContext, encoder: torch.nn.Module, task: Task, split: str, lang: str, layer: int,
              threshold: float | None) -> tuple[dict[str, float], tuple[str, str], float | None]:
    """One language of one split: metrics, submission file (suffix, text) and the threshold used. Without a
    threshold, a protocol that fits one (BUCC) fits it on this split, which only dev data may be."""
    fmt: Retrieval = FORMATS[task.format]  # type: ignore[assignment]
    protocol = PROTOCOLS[task.metric]
    corpus, src, trg = _embedded(trial, encoder, task, split, lang, layer)
    if protocol.fit is not None and threshold is None:
        if split != "validation":
            raise ValueError(f"{task.name}: a mining threshold is fitted on dev data only, not on '{split}'")
        threshold = protocol.fit(corpus, src, trg)
    examples, _ = encoded(trial, task, split, lang, trial.space.retrieval.max_length)
    predictions = protocol.predict(corpus, src, trg, threshold)
    metrics = METRICS[task.metric](predictions, fmt.references(examples, task), lang)
    return metrics, fmt.submission(predictions, examples), threshold


def _inference_encoder(trial: TrialContext, encoder_dir: Path | None) -> torch.nn.Module:
    encoder = load_encoder(trial, encoder_dir).eval()
    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        encoder = encoder.to(device="cuda", dtype=dtype)
    return encoder


def _embedded(trial: TrialContext, encoder: torch.nn.Module, task, split: str, lang: str, layer: int):
    examples, rows = encoded(trial, task, split, lang, trial.space.retrieval.max_length)
    embeddings = _embed(trial, encoder, rows, layer)
    sides = np.array([row["side"] for row in rows])
    corpus = FORMATS[task.format].corpus(examples)
    return corpus, embeddings[sides == 0], embeddings[sides == 1]


@torch.no_grad()
def _embed(trial: TrialContext, encoder: torch.nn.Module, rows: list[dict], layer: int) -> np.ndarray:
    """Mean-pooled `hidden_states[layer]` of every row; each rank embeds a share of the length-sorted batches."""
    device = next(encoder.parameters()).device
    pad_id = trial.tokenizer.pad_token_id
    batches = sorted_batches([len(row["input_ids"]) for row in rows], trial.space.retrieval.batch_size)
    mine: list[tuple[np.ndarray, np.ndarray]] = []
    for indices in batches[trial.ranks.rank :: trial.ranks.world]:
        batch = collate([rows[int(i)] for i in indices], pad_id)
        hidden = encoder(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                         output_hidden_states=True).hidden_states[layer]
        pooled = mean_pool(hidden.float(), batch["attention_mask"].to(device)).cpu().numpy()
        mine.append((np.asarray(indices), pooled))
    out = np.zeros((len(rows), encoder.config.hidden_size), dtype=np.float32)
    for part in trial.ranks.gather(mine):
        for indices, pooled in part:
            out[indices] = pooled
    return out
