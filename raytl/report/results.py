"""One table of a run's trials, read from the `summary.json` files the search writes.

Where they are: a joint run (`search.mode: joint`) keeps them in `RUN_DIR/trials/<trial_id>/`; a per-target run
(`search.mode: per_target`) in `RUN_DIR/targets/<target>/trials/<trial_id>/`, one study per target, each trial
scored on its own target only. Column `study` says which: `joint`, or the target's name.

Malformed input policy: the search writes every summary.json atomically (write, then rename), so a file that
cannot be parsed or breaks the contract is really broken, never "caught mid-write". Skipping it would silently
drop a trial and could change which intermediate task wins, so `load_results` raises `InputError` naming the
file. A trial directory that has no summary.json yet (the trial has just started) is skipped: that is normal
while a run is live. Sizes: `model_params` 0 comes from summaries written before the tiny models (built from
config) were counted; the zoo's count of the same shape stands in. Any other size must be positive (sizes are
plotted and fitted on a log scale).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from raytl.errors import InputError
from raytl.models.zoo import ZOO

STATUSES = ("running", "completed", "stopped", "diverged", "failed")
BASELINE = "none"
JOINT = "joint"  # the `study` of a trial in RUN_DIR/trials (every target in one objective)
ID_COLUMNS = [
    "trial_id", "study", "selection", "status", "model", "model_params", "intermediate", "intermediate_group",
    "lr_intermediate", "lr_target", "seed", "step", "objective",
]
_TEXT_COLUMNS = ("trial_id", "study", "selection", "status")
SCORE_PREFIX = "score:"  # test task score of the selected checkpoint: reported, never compared
DEV_PREFIX = "dev:"  # the dev selection score: what every decision (objective, best rows) reads
_CONFIG_KEYS = ("model", "intermediate", "lr_intermediate", "lr_target", "seed")


def load_results(run_dir: str | Path) -> pd.DataFrame:
    """Read every trial summary of a run (finished or live) into one row per trial.

    Columns: `ID_COLUMNS` (`study`: `joint` or, in a per-target run, the target whose study ran the trial;
    `selection`: the trial's selection protocol, `en_dev` or `target_dev`; `objective`: the mean dev selection
    score), then `score:{target}` (the XTREME test task
    score of the selected checkpoint), then `dev:{target}` (its dev selection score), then the per-language test
    metrics `{target}:{lang}:{metric}`.
    A target or language a trial has not evaluated yet is NaN.

    >>> df = load_results("runs/2024-xl")          # doctest: +SKIP
    >>> df.loc[df.status == "completed", ["model", "intermediate", "score:xnli"]]  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run directory not found")
    rows = [{"study": study, **_flatten(_read_summary(path))}
            for study, trials_dir in study_dirs(run_dir).items() for path in sorted(trials_dir.glob("*/summary.json"))]
    df = pd.DataFrame(rows)
    for column in ID_COLUMNS:
        if column not in df.columns:
            df[column] = pd.Series(dtype=object if column in _TEXT_COLUMNS else float)
    scores = sorted(c for c in df.columns if c.startswith(SCORE_PREFIX))
    devs = sorted(c for c in df.columns if c.startswith(DEV_PREFIX))
    languages = sorted(c for c in df.columns if c not in ID_COLUMNS and c not in scores and c not in devs)
    return df[ID_COLUMNS + scores + devs + languages].reset_index(drop=True)


def write_results(df: pd.DataFrame, out_dir: str | Path) -> tuple[Path, Path]:
    """Write the trial table as `results.csv` and `results.parquet` in `out_dir`; return both paths.

    >>> write_results(load_results("runs/r1"), "runs/r1/report")   # doctest: +SKIP
    (PosixPath('runs/r1/report/results.csv'), PosixPath('runs/r1/report/results.parquet'))
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = out_dir / "results.csv", out_dir / "results.parquet"
    df.to_csv(csv_path, index=False)
    df.to_parquet(parquet_path, index=False)
    return csv_path, parquet_path


def pending_trials(run_dir: str | Path) -> list[str]:
    """Trial directories that have not written a summary.json yet (normal for a trial that just started).

    >>> pending_trials("runs/r1")     # doctest: +SKIP
    ['c3d4e5']
    """
    return sorted(p.name for trials_dir in study_dirs(Path(run_dir)).values() for p in trials_dir.iterdir()
                  if p.is_dir() and not (p / "summary.json").exists())


def study_dirs(run_dir: Path) -> dict[str, Path]:
    """study -> its trials folder: `joint` -> RUN_DIR/trials, each target of a per-target run ->
    RUN_DIR/targets/<target>/trials (only folders that exist).

    >>> study_dirs(Path("runs/pt"))     # doctest: +SKIP
    {'pawsx': PosixPath('runs/pt/targets/pawsx/trials'), 'xnli': PosixPath('runs/pt/targets/xnli/trials')}
    """
    found = {JOINT: run_dir / "trials"}
    found.update({p.parent.name: p for p in sorted(run_dir.glob("targets/*/trials"))})
    return {study: path for study, path in found.items() if path.is_dir()}


def target_names(df: pd.DataFrame) -> list[str]:
    """The targets that have a task-score column, in column order.

    >>> target_names(pd.DataFrame(columns=["trial_id", "score:xnli", "score:xquad"]))
    ['xnli', 'xquad']
    """
    return [c[len(SCORE_PREFIX):] for c in df.columns if c.startswith(SCORE_PREFIX)]


def language_columns(df: pd.DataFrame, target: str) -> dict[str, dict[str, str]]:
    """Map language -> metric -> column name for one target.

    >>> language_columns(pd.DataFrame(columns=["xnli:de:accuracy"]), "xnli")
    {'de': {'accuracy': 'xnli:de:accuracy'}}
    """
    out: dict[str, dict[str, str]] = {}
    for column in df.columns:
        parts = column.split(":")
        if len(parts) == 3 and parts[0] == target:
            out.setdefault(parts[1], {})[parts[2]] = column
    return out


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: cannot read trial summary: {err}") from err
    _validate(summary, path)
    return summary


def _validate(summary: Any, path: Path) -> None:
    if not isinstance(summary, dict):
        raise InputError(f"{path}: a trial summary must be a JSON object")
    missing = [k for k in ("trial_id", "status", "config", "model_params", "intermediate_group", "step",
                           "objective", "targets") if k not in summary]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)}")
    if summary["trial_id"] != path.parent.name:
        raise InputError(f"{path}: trial_id {summary['trial_id']!r} does not match its directory name")
    if summary["status"] not in STATUSES:
        raise InputError(f"{path}: status {summary['status']!r}; allowed: {', '.join(STATUSES)}")
    config = summary["config"]
    if not isinstance(config, dict) or any(k not in config for k in _CONFIG_KEYS):
        raise InputError(f"{path}: config must hold {', '.join(_CONFIG_KEYS)}")
    for key in ("model_params", "step"):
        _number(summary[key], path, key)
    if _params(summary) <= 0:
        raise InputError(f"{path}: model_params must be positive, got {summary['model_params']!r}")
    _number(summary["objective"], path, "objective", nullable=True)
    if not isinstance(summary["targets"], dict):
        raise InputError(f"{path}: targets must be an object keyed by target name")
    for target, result in summary["targets"].items():
        _validate_target(result, path, target)


def _validate_target(result: Any, path: Path, target: str) -> None:
    where = f"targets.{target}"
    if not isinstance(result, dict) or "score" not in result or not isinstance(result.get("languages"), dict):
        raise InputError(f"{path}: {where} must hold 'score' and a 'languages' object")
    _number(result["score"], path, f"{where}.score", nullable=True)
    _number(result.get("dev"), path, f"{where}.dev", nullable=True)
    for lang, metrics in result["languages"].items():
        if not isinstance(metrics, dict):
            raise InputError(f"{path}: {where}.languages.{lang} must map metric names to numbers")
        for metric, value in metrics.items():
            _number(value, path, f"{where}.languages.{lang}.{metric}")


def _number(value: Any, path: Path, key: str, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{path}: {key} must be a number, got {value!r}")


def _flatten(summary: Mapping[str, Any]) -> dict[str, Any]:
    config = summary["config"]
    row: dict[str, Any] = {
        "trial_id": summary["trial_id"],
        "selection": summary.get("selection"),
        "status": summary["status"],
        **{key: config[key] for key in _CONFIG_KEYS},
        "model_params": _params(summary),
        "intermediate_group": summary["intermediate_group"],
        "step": summary["step"],
        "objective": _float(summary["objective"]),
    }
    for target, result in summary["targets"].items():
        row[f"{SCORE_PREFIX}{target}"] = _float(result["score"])
        row[f"{DEV_PREFIX}{target}"] = _float(result.get("dev"))
        for lang, metrics in result["languages"].items():
            for metric, value in metrics.items():
                row[f"{target}:{lang}:{metric}"] = float(value)
    return row


def _params(summary: Mapping[str, Any]) -> int | float:
    """The trial's encoder size; the zoo's count for a tiny model whose summary predates counting it (0)."""
    model = summary["config"]["model"]
    return ZOO[model].params if summary["model_params"] == 0 and model in ZOO else summary["model_params"]


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)
