"""The XTREME evaluator: a prediction folder scored against a label folder, as XTREME's `evaluate.py` does.

Layout (the leaderboard submission format): `TASK/test-LANG.tsv`, `.json` for xquad, mlqa and tydiqa.
Classification one label per line; Tatoeba one retrieved index per line; BUCC one `source_id<TAB>target_id`
per line; UD-POS/PAN-X one tag per line with a blank line after each sentence; QA labels in SQuAD JSON and QA
predictions as `{question_id: answer_text}`. `score_dirs` returns the official JSON's keys and values: the
overall `all_task`, the category scores and, per task, `{metric: {lang: value}}`, `avg_*` and `avg_metric`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from raytl.errors import InputError
from raytl.tasks import TASKS
from raytl.tasks.entry import XTREME_CATEGORIES
from raytl.tasks.metrics import METRICS

_XTREME_TASKS = sorted((task for task in TASKS.values() if task.xtreme is not None),
                       key=lambda task: task.xtreme.position)  # type: ignore[union-attr]

# Everything below is read from the catalog entries' `xtreme` (raytl.tasks.entry.Xtreme). Averages are float sums;
# summing in evaluate.py's task and language order makes them equal bit for bit. The language lists are fixed, as
# in evaluate.py: every listed language must have a label file and a prediction file (evaluate.py opens both and
# fails otherwise); files of other languages are not read.
OFFICIAL_LANGUAGES: dict[str, list[str]] = {task.name: list(task.languages) for task in _XTREME_TASKS}
"""Task -> XTREME's fixed test-language list, in evaluate.py's order (what `score_dirs` requires)."""

TASK_CATEGORIES: dict[str, list[str]] = {
    category: [task.name for task in _XTREME_TASKS if task.xtreme.category == category]  # type: ignore[union-attr]
    for category in XTREME_CATEGORIES
}
"""XTREME's four categories under the official key names; the overall score is not their mean."""


def score_dirs(pred_dir: str | Path, label_dir: str | Path) -> dict[str, Any]:
    """Score every task folder present in both folders; the result can replace evaluate.py's JSON.

    `all_task` appears only when all nine tasks are scored, a category only when all its tasks are (as in
    evaluate.py). A task folder present on one side only is skipped, as evaluate.py skips it. Inside a task
    folder every language of `OFFICIAL_LANGUAGES[task]` needs both files (else `InputError` naming the language);
    files of other languages are ignored, as evaluate.py never opens them.

    >>> for side, labels in (("predictions", "1 0 1 1"), ("labels", "1 0 0 1")):  # RUN_DIR/trials/ID/predictions
    ...     for lang in OFFICIAL_LANGUAGES["pawsx"]:
    ...         path = Path(f"/tmp/raytl-doc/{side}/pawsx/test-{lang}.tsv")
    ...         path.parent.mkdir(parents=True, exist_ok=True)
    ...         _ = path.write_text("\\n".join(labels.split()) + "\\n")
    >>> scores = score_dirs("/tmp/raytl-doc/predictions", "/tmp/raytl-doc/labels")
    >>> list(scores), scores["pawsx"]["avg_accuracy"]  # no category or all_task: not all their tasks are here
    (['pawsx'], 75.0)
    """
    pred_dir, label_dir = Path(pred_dir), Path(label_dir)
    for folder in (pred_dir, label_dir):
        if not folder.is_dir():
            raise InputError(f"{folder}: not a directory")
    details = {
        task: _score_task(task, pred_dir / task, label_dir / task)
        for task in OFFICIAL_LANGUAGES
        if (pred_dir / task).is_dir() and (label_dir / task).is_dir()
    }
    if not details:
        known = ", ".join(OFFICIAL_LANGUAGES)
        raise InputError(f"{pred_dir}, {label_dir}: no task folder in both (tasks: {known})")
    scores = {task: detail["avg_metric"] for task, detail in details.items()}
    return {**summarize(scores, complete_only=True), **details}


def score_file(task: str, prediction_file: Path, label_file: Path, language: str) -> dict[str, float]:
    """One language of one task: the metric dict evaluate.py computes for that file pair.

    >>> Path("/tmp/raytl-doc/xnli").mkdir(parents=True, exist_ok=True)
    >>> _ = Path("/tmp/raytl-doc/xnli/pred.tsv").write_text("entailment\\nneutral\\n")
    >>> _ = Path("/tmp/raytl-doc/xnli/gold.tsv").write_text("entailment\\ncontradiction\\n")
    >>> score_file("xnli", Path("/tmp/raytl-doc/xnli/pred.tsv"), Path("/tmp/raytl-doc/xnli/gold.tsv"), "de")
    {'accuracy': 50.0}
    """
    entry = TASKS[task]
    predictions, references = _LOADERS[_files(task)](Path(prediction_file), Path(label_file))
    try:
        return METRICS[entry.metric](predictions, references, language)
    except ValueError as error:
        raise InputError(f"{label_file}: {error}") from None


def task_detail(task: str, per_language_metrics: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """evaluate.py's per-task block: `{metric: {lang: value}}`, unweighted `avg_<metric>`, and `avg_metric`.

    >>> task_detail("xnli", {"de": {"accuracy": 80.0}, "en": {"accuracy": 90.0}})
    {'accuracy': {'de': 80.0, 'en': 90.0}, 'avg_accuracy': 85.0, 'avg_metric': 85.0}
    """
    by_metric: dict[str, dict[str, float]] = {}
    for language, metrics in per_language_metrics.items():
        for name, value in metrics.items():
            by_metric.setdefault(name, {})[language] = value
    detail: dict[str, Any] = dict(by_metric)
    for name, values in by_metric.items():
        detail[f"avg_{name}"] = sum(values.values()) / len(values)
    if task in TASK_CATEGORIES["qa"]:
        detail["avg_metric"] = (detail["avg_exact_match"] + detail["avg_f1"]) / 2
    elif "avg_f1" in detail:
        detail["avg_metric"] = detail["avg_f1"]
    elif "avg_accuracy" in detail:
        detail["avg_metric"] = detail["avg_accuracy"]
    else:
        raise ValueError(f"{task}: no f1, exact_match or accuracy among {sorted(by_metric)}")
    return detail


def task_score(task: str, per_language_metrics: Mapping[str, Mapping[str, float]]) -> float:
    """The task's XTREME score: QA (mean EM + mean F1) / 2, else mean F1 if present, else mean accuracy.

    >>> task_score("mlqa", {"de": {"exact_match": 50.0, "f1": 70.0}, "es": {"exact_match": 40.0, "f1": 60.0}})
    55.0
    """
    return task_detail(task, per_language_metrics)["avg_metric"]


def summarize(task_scores: Mapping[str, float], complete_only: bool = False) -> dict[str, float]:
    """`all_task` = plain mean of the task scores (QA weighs 3/9, not 1/4), plus each category's mean.

    With `complete_only` (evaluate.py's display rule) `all_task` needs all nine tasks and a category all of
    its tasks; otherwise means are over the tasks present.

    >>> summarize({"xnli": 80.0, "pawsx": 90.0, "tatoeba": 60.0})
    {'all_task': 76.66666666666667, 'classification': 85.0, 'retrieval': 60.0}
    """
    summary: dict[str, float] = {}
    everything = [task for tasks in TASK_CATEGORIES.values() for task in tasks]
    if task_scores and (not complete_only or set(everything) <= set(task_scores)):
        summary["all_task"] = sum(task_scores.values()) / len(task_scores)
    for category, tasks in TASK_CATEGORIES.items():
        present = [task_scores[task] for task in tasks if task in task_scores]
        if present and (not complete_only or len(present) == len(tasks)):
            summary[category] = sum(present) / len(present)
    return summary


def _score_task(task: str, pred_dir: Path, label_dir: Path) -> dict[str, Any]:
    """Every language of the task's fixed list, in evaluate.py's order; a missing file is an InputError."""
    suffix = "json" if _files(task) == "qa" else "tsv"
    per_language = {}
    for language in OFFICIAL_LANGUAGES[task]:
        name = f"test-{language}.{suffix}"
        label_file, pred_file = label_dir / name, pred_dir / name
        if not label_file.is_file():
            required = f"evaluate.py scores XTREME's fixed {task} list in full: {' '.join(OFFICIAL_LANGUAGES[task])}"
            if pred_file.is_file():
                raise InputError(f"{label_file}: missing (prediction file {pred_file} exists); {required}")
            raise InputError(f"{task}: language '{language}' has neither {label_file} nor {pred_file}; {required}")
        if not pred_file.is_file():
            raise InputError(f"{pred_file}: missing; label file {label_file} has no prediction file")
        per_language[language] = score_file(task, pred_file, label_file, language)
    return task_detail(task, per_language)


def _files(task: str) -> str:
    """The task's file layout under evaluate.py (a key of `_LOADERS`)."""
    xtreme = TASKS[task].xtreme
    if xtreme is None:
        raise InputError(f"{task}: not one of XTREME's tasks; `raytl score` scores {', '.join(OFFICIAL_LANGUAGES)}")
    return xtreme.files


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise InputError(f"{path}:{line}: not UTF-8 text") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as evaluate.py's open() reads


def _lines(path: Path) -> list[str]:
    lines = _read_text(path).split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _read_values(path: Path, pattern: str, expected: str) -> list[str]:
    values = [line.strip() for line in _lines(path)]
    for number, value in enumerate(values, 1):
        if not re.fullmatch(pattern, value):
            found = repr(value) if value else "blank line"
            raise InputError(f"{path}:{number}: {found}; expected {expected}")
    return values


def _read_tags(path: Path) -> list[tuple[int, list[str]]]:
    """Sentences as (first line, tags); every blank line closes a sentence, as evaluate.py's read_tag does."""
    sentences: list[tuple[int, list[str]]] = []
    tags: list[str] = []
    start = 1
    for number, line in enumerate(_lines(path), 1):
        if line.strip():
            tags.append(line.strip())
        else:
            sentences.append((start, tags))
            tags, start = [], number + 1
    if tags:
        sentences.append((start, tags))
    return sentences


def _same_count(pred_path: Path, n_pred: int, label_path: Path, n_label: int, unit: str) -> None:
    if n_label == 0:
        raise InputError(f"{label_path}:1: no {unit}")
    if n_pred != n_label:
        line = min(n_pred, n_label) + 1
        raise InputError(f"{pred_path}:{line}: has {n_pred} {unit}, {label_path} has {n_label}")


def _load_values(pattern: str, expected: str) -> Callable[[Path, Path], tuple[list[str], list[str]]]:
    def load(pred_path: Path, label_path: Path) -> tuple[list[str], list[str]]:
        predictions = _read_values(pred_path, pattern, expected)
        labels = _read_values(label_path, pattern, expected)
        _same_count(pred_path, len(predictions), label_path, len(labels), "lines")
        return predictions, labels

    return load


def _read_pairs(path: Path) -> list[tuple[str, ...]]:
    return [tuple(v.split("\t")) for v in _read_values(path, r"[^\t]+\t[^\t]+", "source_id<TAB>target_id")]


def _load_pairs(pred_path: Path, label_path: Path) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    return _read_pairs(pred_path), _read_pairs(label_path)


def _load_tags(pred_path: Path, label_path: Path) -> tuple[list[list[str]], list[list[str]]]:
    predictions, labels = _read_tags(pred_path), _read_tags(label_path)
    if not labels:
        raise InputError(f"{label_path}:1: no sentences")
    count = min(len(predictions), len(labels))
    if len(predictions) > count:
        line = predictions[count][0]
        raise InputError(f"{pred_path}:{line}: sentence {count + 1} is extra; {label_path} has {count}")
    if len(labels) > count:
        line = labels[count][0]
        raise InputError(f"{pred_path}: ends after sentence {count}; {label_path}:{line} starts another")
    for index, ((pred_line, tags), (label_line, gold)) in enumerate(zip(predictions, labels, strict=True), 1):
        if len(tags) != len(gold):
            counts = f"{len(tags)} tags, {label_path}:{label_line} has {len(gold)}"
            raise InputError(f"{pred_path}:{pred_line}: sentence {index} has {counts}")
    return [tags for _, tags in predictions], [tags for _, tags in labels]


def _load_json(path: Path) -> tuple[str, Any]:
    text = _read_text(path)
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from None


def _line_of(text: str, key: str) -> int:
    """Line of the first mention of a JSON string in the file (1 if not found verbatim)."""
    for needle in (json.dumps(key, ensure_ascii=False), json.dumps(key)):
        at = text.find(needle)
        if at >= 0:
            return text.count("\n", 0, at) + 1
    return 1


def _load_qa(pred_path: Path, label_path: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    text, predictions = _load_json(pred_path)
    if not isinstance(predictions, dict):
        raise InputError(f"{pred_path}:1: expected a JSON object {{question_id: answer_text}}")
    for qid, answer in predictions.items():
        if not isinstance(answer, str):
            raise InputError(f"{pred_path}:{_line_of(text, qid)}: answer to {qid!r} is not a string")
    return predictions, _read_squad(label_path)


def _read_squad(path: Path) -> dict[str, list[str]]:
    """Question id -> gold answer texts, in file order, from SQuAD JSON (`{"data": [...]}` or a bare list)."""
    text, data = _load_json(path)
    articles = data["data"] if isinstance(data, dict) and "data" in data else data
    answers: dict[str, list[str]] = {}
    qid = ""
    try:
        for question in (q for article in articles for p in article["paragraphs"] for q in p["qas"]):
            qid = question["id"]
            if qid in answers:
                raise InputError(f"{path}:{_line_of(text, qid)}: question id {qid!r} appears twice")
            answers[qid] = [answer["text"] for answer in question["answers"]]
            if not answers[qid] or not all(isinstance(a, str) for a in answers[qid]):
                raise InputError(f"{path}:{_line_of(text, qid)}: question {qid!r} has no gold answer text")
    except (KeyError, TypeError) as error:
        where = f"{_line_of(text, qid)}: near question {qid!r}" if qid else "1: before the first question"
        raise InputError(f"{path}:{where}: not SQuAD JSON ({error!r})") from None
    if not answers:
        raise InputError(f"{path}:1: no questions")
    return answers


_LOADERS: dict[str, Callable[[Path, Path], tuple[Any, Any]]] = {
    "label": _load_values(r".+", "a label"),
    "index": _load_values(r"[0-9]+", "a sentence index"),
    "pairs": _load_pairs,
    "tags": _load_tags,
    "qa": _load_qa,
}
