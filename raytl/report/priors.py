"""How well a transferability prior (SEmb, LogME: `raytl rank`) predicted the measured gains, and how stable the
measured ranking of intermediate tasks is across model sizes.

A search that used a prior (`search.prior: semb | logme`) wrote the ranking it used to RUN_DIR/prior.json, in the
`raytl rank --json` layout `{model: {target: [{"intermediate", "score", "method"}, ...]}}` (best first; a score may
be null; one file may hold both methods). A per-target run keeps it at its top level too.

**Measured** (dev only): per (model, intermediate task, target), `dev` = the mean over seeds of the dev selection
score of each seed's selected trial (`selection.SELECTION_RULE`, the same numbers as `transfer.csv`'s `dev_mean`)
and `dev_gain` = `dev` minus the mean of the same model's `none` seeds (`selection.gain_summary`). Test scores
are never read here. A task is compared for (model, target) when it has a dev gain (so the model needs a
completed `none` baseline for the target) and a non-null prior score; `none` is never compared (it is the
reference of the gains and SEmb cannot score it). `n_tasks` says how many tasks were compared; `left_out` lists
the others and why.

**Spearman**: the Pearson correlation of the average ranks of the prior's scores and of the dev gains (what
`scipy.stats.spearmanr` computes, ties included; scipy is not a dependency); NaN with fewer than 2 tasks or a
constant side.

**Regret@k** (Poth et al. 2021, "What to Pre-Train on? Efficient Intermediate Task Selection", EMNLP): with S
the compared tasks, O = max over s in S of the measured score of s, and M_k = max over the prior's k
highest-scored tasks in S of their measured score, Regret@k = 100 * (O - M_k) / O, in percent of the best
score. The paper measures target test performance; raytl's rule (no test score enters a comparison) makes the
measured score here the dev selection score `dev`. 0 = the best task is among the prior's top k. NaN when S has
k tasks or fewer (the top k would be all of S, regret 0 by construction) or O <= 0.

**Across sizes**: per target and per pair of model sizes (smaller, larger by parameter count: the summaries'
`model_params`, the zoo's count, as `selection.model_order` orders them), the Spearman correlation of the dev
gains over the tasks with a dev gain at both sizes. 1 = both sizes rank the tasks alike.
"""

from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd

from raytl.errors import InputError
from raytl.report.results import BASELINE, DEV_PREFIX
from raytl.report.selection import gain_summary, model_order, select_trials, task_scores

PRIOR_FILE = "prior.json"
KS = (1, 3)
PRIOR_COLUMNS = ["model", "target", "method", "n_tasks", "spearman", *[f"regret_at_{k}" for k in KS], "prior_top",
                 "prior_top_dev_gain", "measured_best", "measured_best_dev_gain", "left_out"]
CROSS_COLUMNS = ["target", "smaller", "larger", "n_tasks", "spearman"]
MEASURED_COLUMNS = ["model", "target", "intermediate", "dev", "dev_gain"]
PRIOR_TEXT = (
    "How well the prior the search used (`RUN_DIR/prior.json`, the `raytl rank` layout) predicted the measured "
    "**dev** gains (Poth et al. 2021's measures). Measured = per (model, task, target) the mean over seeds of the "
    "selected trials' dev selection score (`dev`, as in transfer.csv) and its gain over the same model's `none` "
    "baseline (`dev_gain`); test scores are never read. Compared: the tasks with a dev gain and a prior score "
    "(`none` excluded), `n_tasks` of them; `left_out` says which others and why. **Spearman** = rank correlation "
    "of the prior's scores and the dev gains (1: same order, -1: reversed). **Regret@k** = 100 x (O - M_k) / O, "
    "O the best dev score over the compared tasks and M_k the best among the prior's top k of them: the percent "
    "of the best score lost by training only the prior's top k (0 = the best task is among them; n/a with k or "
    "fewer tasks). `prior_top` is the prior's first choice, `measured_best` the task with the best dev score."
)
CROSS_TEXT = (
    "Do the model sizes agree on which intermediate task helps? Per target and pair of sizes (smaller, larger by "
    "parameter count): Spearman correlation of the dev gains over the `n_tasks` tasks measured at both sizes "
    "(1: the same order; near 0: the ranking at one size says little about the other)."
)


def read_prior(run_dir: str | Path) -> dict[str, dict[str, list[dict[str, Any]]]] | None:
    """RUN_DIR/prior.json as written (the `raytl rank --json` layout), or None when the run recorded no prior.

    Raises `InputError` naming the file when it cannot be read or breaks the layout.

    >>> read_prior("/nonexistent/run") is None
    True
    """
    path = Path(run_dir) / PRIOR_FILE
    if not path.is_file():
        return None
    try:
        prior = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: cannot read the prior ranking: {err}") from err
    _validate(prior, path)
    return prior


def _validate(prior: Any, path: Path) -> None:
    if not isinstance(prior, dict) or not all(isinstance(t, dict) for t in prior.values()):
        raise InputError(f"{path}: expected {{model: {{target: [entries]}}}} as `raytl rank --json` writes")
    for model, targets in prior.items():
        for target, entries in targets.items():
            where = f"{path}: {model}/{target}"
            if not isinstance(entries, list):
                raise InputError(f"{where}: expected a list of entries")
            seen = set()
            for entry in entries:
                if not (isinstance(entry, dict) and isinstance(entry.get("intermediate"), str)
                        and isinstance(entry.get("method"), str)):
                    raise InputError(f"{where}: each entry needs a string 'intermediate' and 'method': {entry!r}")
                score = entry.get("score")
                if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
                    raise InputError(f"{where}: score must be a number or null, got {score!r}")
                key = (entry["method"], entry["intermediate"])
                if key in seen:
                    raise InputError(f"{where}: {key[1]} is ranked twice by {key[0]}")
                seen.add(key)


def measured_gains(df: pd.DataFrame) -> pd.DataFrame:
    """Per (model, target, intermediate task) with a dev gain: `dev` (mean over seeds of the selected trials' dev
    score) and `dev_gain` (minus the same model's `none` mean). Dev columns only; `none` excluded.

    >>> df = pd.DataFrame({"trial_id": list("abc"), "study": ["joint"] * 3, "status": ["completed"] * 3,
    ...     "model": ["large"] * 3, "intermediate": ["none", "mnli", "sst2"], "seed": [0] * 3,
    ...     "objective": [70.0, 74.0, 69.0], "score:xnli": [1.0, 2.0, 3.0], "dev:xnli": [70.0, 74.0, 69.0]})
    >>> measured_gains(df).values.tolist()
    [['large', 'xnli', 'mnli', 74.0, 4.0], ['large', 'xnli', 'sst2', 69.0, -1.0]]
    """
    stats = gain_summary(task_scores(select_trials(df), DEV_PREFIX), ["target"])
    stats = stats.rename(columns={"score_mean": "dev", "gain_mean": "dev_gain"})
    known = stats[(stats["intermediate"] != BASELINE) & stats["dev_gain"].notna()]
    return known[MEASURED_COLUMNS].sort_values(["model", "target", "intermediate"]).reset_index(drop=True)


def spearman(a: list[float] | pd.Series, b: list[float] | pd.Series) -> float:
    """Spearman's rank correlation: Pearson's on average ranks (ties share their mean rank).

    >>> spearman([1, 2, 3], [10, 30, 20]), spearman([1, 2, 3], [3, 2, 1]), spearman([1, 1], [1, 2])
    (0.5, -1.0, nan)
    """
    x = pd.Series(a, dtype=float).rank().to_numpy()
    y = pd.Series(b, dtype=float).rank().to_numpy()
    if len(x) < 2:
        return math.nan
    x, y = x - x.mean(), y - y.mean()  # a perfect or reversed order gives exactly +-1 this way
    if not (x @ x > 0 and y @ y > 0):
        return math.nan
    return float(x @ y / math.sqrt((x @ x) * (y @ y)))


def regret_at_k(prior_order: list[str], measured: dict[str, float], k: int) -> float:
    """Poth et al.'s Regret@k in percent: 100 * (O - M_k) / O, O = best measured score, M_k = best measured score
    among the first k of `prior_order` (every name in it must be in `measured`, and only those are compared).

    >>> regret_at_k(["b", "a", "c", "d"], {"a": 80.0, "b": 60.0, "c": 70.0, "d": 50.0}, 1)
    25.0
    >>> regret_at_k(["b", "a", "c", "d"], {"a": 80.0, "b": 60.0, "c": 70.0, "d": 50.0}, 3)
    0.0
    >>> regret_at_k(["a", "b"], {"a": 80.0, "b": 60.0}, 3)
    nan
    """
    best = max(measured[name] for name in prior_order) if prior_order else math.nan
    if len(prior_order) <= k or not best > 0:
        return math.nan
    return 100.0 * (best - max(measured[name] for name in prior_order[:k])) / best


def prior_table(prior: dict[str, dict[str, list[dict[str, Any]]]], measured: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, target, method) of the prior: `PRIOR_COLUMNS` (see the module docstring).

    >>> prior = {"large": {"xnli": [{"intermediate": "mnli", "score": 0.9, "method": "semb"},
    ...                             {"intermediate": "sst2", "score": 0.5, "method": "semb"}]}}
    >>> measured = pd.DataFrame({"model": ["large"] * 2, "target": ["xnli"] * 2, "intermediate": ["mnli", "sst2"],
    ...                          "dev": [74.0, 69.0], "dev_gain": [4.0, -1.0]})
    >>> prior_table(prior, measured)[["method", "n_tasks", "spearman", "regret_at_1", "prior_top"]].values.tolist()
    [['semb', 2, 1.0, 0.0, 'mnli']]
    """
    rows = []
    for model, targets in prior.items():
        for target, entries in targets.items():
            mine = measured[(measured["model"] == model) & (measured["target"] == target)].set_index("intermediate")
            for method in dict.fromkeys(e["method"] for e in entries):
                ranked = [e for e in entries if e["method"] == method and e["intermediate"] != BASELINE]
                rows.append({"model": model, "target": target, "method": method, **_compare(ranked, mine)})
    return pd.DataFrame(rows, columns=PRIOR_COLUMNS)


def _compare(ranked: list[dict[str, Any]], mine: pd.DataFrame) -> dict[str, Any]:
    """The measures of one method's ranking against one (model, target)'s measured tasks (indexed by task)."""
    scored = [e for e in ranked if e["score"] is not None and e["intermediate"] in mine.index]
    order = [e["intermediate"] for e in sorted(scored, key=lambda e: -e["score"])]  # stable: file order on ties
    named = {e["intermediate"] for e in ranked}
    left_out = ([f"{e['intermediate']} (no prior score)" for e in ranked if e["score"] is None]
                + [f"{e['intermediate']} (no dev gain)" for e in ranked
                   if e["score"] is not None and e["intermediate"] not in mine.index]
                + [f"{name} (not in the prior)" for name in mine.index if name not in named])
    dev, gain = mine["dev"].to_dict(), mine["dev_gain"].to_dict()
    best = max(order, key=lambda name: dev[name]) if order else None
    return {
        "n_tasks": len(order),
        "spearman": spearman([e["score"] for e in scored], [gain[e["intermediate"]] for e in scored]),
        **{f"regret_at_{k}": regret_at_k(order, dev, k) for k in KS},
        "prior_top": order[0] if order else None,
        "prior_top_dev_gain": gain[order[0]] if order else math.nan,
        "measured_best": best, "measured_best_dev_gain": gain[best] if best else math.nan,
        "left_out": "; ".join(left_out),
    }


def cross_size_table(measured: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per target and pair of model sizes (`order`: smallest first) both with dev gains: the Spearman
    correlation of the dev gains over the tasks measured at both sizes.

    >>> measured = pd.DataFrame({"model": ["base"] * 3 + ["large"] * 3, "target": ["xnli"] * 6,
    ...     "intermediate": ["a", "b", "c"] * 2, "dev": [0.0] * 6, "dev_gain": [1.0, 2.0, 3.0, 1.0, 3.0, 2.0]})
    >>> cross_size_table(measured, ["base", "large"]).values.tolist()
    [['xnli', 'base', 'large', 3, 0.5]]
    """
    rows = []
    for target in dict.fromkeys(measured["target"]):
        gains = measured[measured["target"] == target].pivot(index="intermediate", columns="model", values="dev_gain")
        for smaller, larger in combinations([m for m in order if m in gains.columns], 2):
            both = gains[[smaller, larger]].dropna()
            rows.append({"target": target, "smaller": smaller, "larger": larger, "n_tasks": len(both),
                         "spearman": spearman(both[smaller], both[larger])})
    return pd.DataFrame(rows, columns=CROSS_COLUMNS)


def prior_report(run_dir: str | Path, df: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """(the prior's table, None when the run recorded no prior; the cross-size table) of a run.

    >>> prior_report("/nonexistent/run", pd.DataFrame(columns=["trial_id", "study", "status", "model",
    ...     "model_params", "intermediate", "seed", "objective"]))[0] is None
    True
    """
    measured = measured_gains(df)
    prior = read_prior(run_dir)
    table = prior_table(prior, measured) if prior is not None else None
    return table, cross_size_table(measured, model_order(df))
