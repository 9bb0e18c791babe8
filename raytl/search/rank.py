"""`raytl rank`: rank a space's intermediate tasks for every (model, target) before any target training, two ways.

- **SEmb** (Poth et al. 2021, "What to Pre-Train on? Efficient Intermediate Task Selection"): the cosine similarity
  of the intermediate and the target training sets' mean sentence embeddings under the base (pretrained) encoder.
  A sentence embedding is the mean over a row's tokens of the last layer (`semb_layer`, -1); a set's embedding is
  the mean over a seeded sample of `semb_examples` (1,000) training rows. A mixture's embedding is the mean of its
  tasks'. Training-free: one forward pass per sampled row. `none` has no data and no SEmb score.
- **LogME** (You et al. 2021): the log evidence of a Bayesian linear model of the target's labels on the features
  its head reads (see `rank_features.logme_view`), computed on `logme_examples` (1,000) of the target's English
  training rows, under each intermediate encoder from the run's phase store (`none`: the base encoder, the
  reference a useful intermediate task should beat). Forward passes only.

The encoder LogME reads for (model, task) is the intermediate phase a search trains first: at the learning rate a
`points_to_evaluate` entry gives that model and task, else the range's geometric middle (the grid's), seed
`seeds[0]`. A phase not in the store is reported as missing; `train_missing` trains it through the real
intermediate phase code (one process, the phase a later search then reuses).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytl.config import NO_INTERMEDIATE, SearchSpace
from raytl.errors import InputError
from raytl.pipeline.phase_id import TrialParams, intermediate_phase_id
from raytl.pipeline.run_dir import RunDir
from raytl.tasks import TASKS

METHODS = ("semb", "logme")
LOGME_FORMATS = ("classification", "tagging")  # the formats rank_features.VIEWS reads (a test keeps them equal)


@dataclass(frozen=True)
class RankSettings:
    """The choices of both methods (defaults: the papers'), recorded in the output."""

    semb_examples: int = 1000
    semb_layer: int = -1
    logme_examples: int = 1000
    methods: tuple[str, ...] = METHODS
    train_missing: bool = False


def anchor_params(space: SearchSpace, model: str, intermediate: str) -> TrialParams:
    """The point whose intermediate phase LogME reads: the first explicit point for (model, task), else the
    default (geometric middle) learning rate; seed `seeds[0]`."""
    lr = space.intermediate.default_lr(model)
    for point in space.search.points_to_evaluate:
        if point.get("model") == model and point.get("intermediate") == intermediate and "lr_intermediate" in point:
            lr = float(point["lr_intermediate"])
            break
    return TrialParams(model, intermediate, lr, space.target.default_lr(model), space.seeds[0])


def _context(space: SearchSpace, run: RunDir, params: TrialParams):  # -> TrialContext
    from raytl.pipeline.context import TrialContext
    from raytl.training.distributed import Ranks

    return TrialContext(space, params, Ranks(0, 1), run, f"rank-{params.model}-{params.intermediate}")


def _sample(rows: list[dict], count: int, seed: int) -> list[dict]:
    if len(rows) <= count:
        return rows
    chosen = np.sort(np.random.default_rng(seed).choice(len(rows), size=count, replace=False))
    return [rows[int(i)] for i in chosen]


def _training_rows(trial, name: str, max_length: int, count: int) -> list[dict]:  # trial: TrialContext
    from raytl.pipeline.context import encoded
    from raytl.tasks.labels import with_labels

    task = with_labels(TASKS[name], trial.space.data)
    rows = [row for lang in task.train_languages for row in encoded(trial, task, "train", lang, max_length)[1]]
    return _sample(rows, count, trial.params.seed)


def _inference(encoder):  # torch.nn.Module -> torch.nn.Module
    import torch

    encoder = encoder.eval()
    return encoder.to("cuda") if torch.cuda.is_available() else encoder


def _semb(space: SearchSpace, run: RunDir, model: str, settings: RankSettings) -> dict[str, dict[str, float]]:
    """target -> intermediate -> cosine of the mean embeddings under the base encoder."""
    from raytl.pipeline.context import load_encoder
    from raytl.search.rank_features import mean_embeddings

    trial = _context(space, run, anchor_params(space, model, NO_INTERMEDIATE))
    encoder = _inference(load_encoder(trial, None))
    layers = encoder.config.num_hidden_layers
    if not -layers - 1 <= settings.semb_layer <= layers:
        raise InputError(f"--semb-layer {settings.semb_layer}: model {model} has {layers} layers; allowed: "
                         f"{-layers - 1} to {layers} (0 = embeddings, -1 = last layer)")

    def embedding(name: str, max_length: int) -> np.ndarray:
        rows = _training_rows(trial, name, max_length, settings.semb_examples)
        return mean_embeddings(encoder, rows, trial.tokenizer.pad_token_id, settings.semb_layer).mean(axis=0)

    tasks: dict[str, np.ndarray] = {}
    for name in space.intermediate_tasks:
        members = space.mixtures[name].tasks if name in space.mixtures else [name]
        if name != NO_INTERMEDIATE:
            tasks[name] = np.mean([embedding(task, space.intermediate.max_length) for task in members], axis=0)
    out = {}
    for target in space.targets:
        if "train" in TASKS[target].sources:
            vector = embedding(target, space.target_phase(target).max_length)
            out[target] = {name: _cosine(vector, other) for name, other in tasks.items()}
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _logme(space: SearchSpace, run: RunDir, model: str, settings: RankSettings
           ) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """(target -> intermediate -> LogME, intermediate -> why it has no score: its phase is missing)."""
    from raytl.training.distributed import single_process_group

    scores: dict[str, dict[str, float]] = {}
    missing: dict[str, str] = {}
    targets = [t for t in space.targets if TASKS[t].format in LOGME_FORMATS and "train" in TASKS[t].sources]
    group = single_process_group() if settings.train_missing else contextlib.nullcontext()
    with group:  # one group for every phase trained here (DeepSpeed keeps the first group it saw)
        for name in space.intermediate_tasks:
            trial = _context(space, run, anchor_params(space, model, name))
            found = _encoder_dir(trial, settings.train_missing)
            if isinstance(found, str):
                missing[name] = found
                continue
            for target, score in _logme_scores(trial, found, targets, settings.logme_examples).items():
                scores.setdefault(target, {})[name] = score
    return scores, missing


def _encoder_dir(trial, train_missing: bool):  # (TrialContext, bool) -> Path | None, or why it is missing (str)
    """The trial's published intermediate encoder (None: the base encoder, for `none`), trained here when missing
    and asked to; else a sentence saying which phase is missing."""
    from raytl.pipeline.intermediate_phase import obtain_intermediate

    if trial.params.intermediate == NO_INTERMEDIATE:
        return None
    phase_id = intermediate_phase_id(trial.space, trial.params)
    directory = trial.run.phase_store().verified(phase_id)
    if directory is None and train_missing:
        directory = obtain_intermediate(trial)
    if directory is None:
        return (f"phase {phase_id} (lr_intermediate {trial.params.lr_intermediate:g}, seed {trial.params.seed}) is "
                f"not in the phase store {trial.run.phases_location}")
    return directory


def _logme_scores(trial, directory, targets: list[str], examples: int) -> dict[str, float]:
    """target -> LogME of its training rows' features under the encoder at `directory` (None: the base one)."""
    from raytl.pipeline.context import load_encoder
    from raytl.search.logme import logme
    from raytl.search.rank_features import logme_view

    encoder = _inference(load_encoder(trial, directory))
    out = {}
    for target in targets:
        rows = _training_rows(trial, target, trial.space.target_phase(target).max_length, examples)
        features, labels = logme_view(encoder, rows, trial.tokenizer.pad_token_id, TASKS[target].format)
        out[target] = logme(features, labels)
    return out


def rank(space: SearchSpace, run: RunDir, settings: RankSettings = RankSettings()
         ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """{model: {target: [{"intermediate", "score", "method", ...}, ...]}}: per method, best first; each entry
    records its method's settings; an entry without a score says why in `missing`."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for model in space.models:
        semb = _semb(space, run, model, settings) if "semb" in settings.methods else {}
        logme_scores, missing = _logme(space, run, model, settings) if "logme" in settings.methods else ({}, {})
        for target in space.targets:
            entries = _entries(semb.get(target, {}), "semb", {"examples": settings.semb_examples,
                                                                "layer": settings.semb_layer}, {})
            if "logme" in settings.methods:
                entries += _entries(logme_scores.get(target, {}), "logme",
                                    {"examples": settings.logme_examples, "layer": -1}, missing)
            out.setdefault(model, {})[target] = entries
    return out


def _entries(scores: dict[str, float], method: str, recorded: dict[str, Any], missing: dict[str, str]
             ) -> list[dict[str, Any]]:
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    entries = [{"intermediate": name, "score": score, "method": method, **recorded} for name, score in ranked]
    return entries + [{"intermediate": name, "score": None, "method": method, "missing": why, **recorded}
                      for name, why in missing.items()]


def format_table(ranking: dict[str, dict[str, list[dict[str, Any]]]], space: SearchSpace,
                 settings: RankSettings) -> str:
    """The ranking as a table, one row per (model, target, method, rank), with the settings and notes."""
    lines = [f"SEmb: cosine of mean sentence embeddings under the base encoder (layer {settings.semb_layer}, mean "
             f"over tokens, {settings.semb_examples} training examples per task); higher = more similar",
             f"LogME: log evidence per example of the target's labels on its English training features under each "
             f"intermediate encoder ({settings.logme_examples} examples); higher = better features",
             "", f"{'model':10} {'target':10} {'method':6} {'rank':>4}  {'intermediate':16} {'score':>10}"]
    notes: dict[str, str] = {}
    for model, targets in ranking.items():
        for target, entries in targets.items():
            for method in settings.methods:
                mine = [e for e in entries if e["method"] == method]
                if not mine:
                    lines.append(f"{model:10} {target:10} {method:6} {'-':>4}  {'(not scored: ' + _why(target) + ')'}")
                for position, entry in enumerate(mine, 1):
                    score = "missing" if entry["score"] is None else f"{entry['score']:.6f}"
                    lines.append(f"{model:10} {target:10} {method:6} {position:>4}  {entry['intermediate']:16} "
                                 f"{score:>10}")
                    if "missing" in entry:
                        notes[f"{model}/{entry['intermediate']}"] = entry["missing"]
    lines += [f"missing {key}: {why}" for key, why in notes.items()]
    if notes:
        lines.append("(train them with `raytl search`, or here with `raytl rank --train-missing`)")
    return "\n".join(lines)


def _why(target: str) -> str:
    task = TASKS[target]
    if "train" not in task.sources:
        return "no training set"
    return f"LogME has no feature view for format {task.format}" if task.format not in LOGME_FORMATS else "no scores"
