"""The headline: Phang et al. (2020)'s table (XLM-R Large against X-STILTs) from this run, model by model.

Per model and target, two configurations, both chosen on dev data only (`HEADLINE_RULE`):

- `none`: the completed `none` trial with the highest dev selection score for the target (`dev:{target}`);
- `dev-selected`: the completed intermediate-task trial with the highest `dev:{target}`, i.e. the intermediate
  task whose best trial has the best dev score for that target. In a per-target run the candidates are that
  target's study; in a joint run every trial carries every target's dev score and the choice is made per target.

A choice is a configuration, `CONFIG_KEYS` (what `raytl rerun` repeats with more seeds); its reported TEST score
is the mean over that configuration's completed seeds (one trial per seed, the one with the best dev score),
with n. The XTREME average is the plain mean of the nine task scores (QA weighs 3/9); with fewer targets the
column says `k of 9 tasks` and is not comparable with a published overall score. Test decides nothing: with
the test scores scrambled every choice here is the same.
"""

from __future__ import annotations

import math

import pandas as pd

from raytl.report.results import BASELINE, DEV_PREFIX, SCORE_PREFIX, target_names
from raytl.report.selection import model_order
from raytl.tasks.scoring import TASK_CATEGORIES

CONFIG_KEYS = ["model", "intermediate", "lr_intermediate", "lr_target"]  # one configuration (raytl.search.rerun)
XTREME_ORDER = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
SELECTED = "dev-selected"
HEADLINE_RULE = (
    "Per model and target: the completed trial with the highest dev selection score for that target "
    "(`dev:{target}`), among `none` trials for the baseline and among intermediate-task trials for the "
    "dev-selected row; its configuration (model, intermediate task, learning rates) is reported with the mean "
    "TEST score over its completed seeds (n). Test scores never choose anything."
)
# Source: /work/shared/docs/xtreme.md, "Reference results" table (zero-shot; accuracy for XNLI/PAWS-X, F1 for
# NER and QA), quoting the mT5 paper's README; the second row is Phang et al. (2020)'s X-STILTs, XLM-R Large with
# the best English intermediate task per target. Only the columns that table has; published, not run by raytl.
PUBLISHED_XLMR_LARGE: dict[str, dict[str, float]] = {
    "XLM-R Large": {"xnli": 79.2, "pawsx": 86.4, "panx": 65.4, "xquad": 76.6, "mlqa": 71.6, "tydiqa": 65.1},
    "XLM-R Large + X-STILTs": {"xnli": 80.4, "pawsx": 87.7, "panx": 64.7, "xquad": 77.2, "mlqa": 72.3,
                               "tydiqa": 76.0},
}
PUBLISHED_METRIC = {"xnli": "accuracy", "pawsx": "accuracy", "panx": "f1", "xquad": "f1", "mlqa": "f1",
                    "tydiqa": "f1"}
PUBLISHED_MODEL = "large"
SELECTED_COLUMNS = ["model", "target", "arm", "intermediate", "trial_id", "lr_intermediate", "lr_target", "dev",
                    "test_mean", "test_std", "n_seeds", "seed_trials"]


def dev_selected(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, target, arm): arm `none` or `dev-selected`, chosen by `dev:{target}` (`HEADLINE_RULE`).

    Columns `SELECTED_COLUMNS`: the choosing trial (`trial_id`, its `dev`), its configuration, and the test
    mean and sample std over the configuration's seeds (`n_seeds`, `seed_trials`: their ids, `;`-separated).

    >>> dev_selected(load_results("runs/pt")).query("arm == 'dev-selected'")[["target", "intermediate"]]
    ... # doctest: +SKIP
    """
    done = df[df["status"] == "completed"]
    records = []
    for model in model_order(df):
        for target in target_names(df):
            dev = f"{DEV_PREFIX}{target}"
            trials = done[(done["model"] == model) & done[dev].notna()]
            is_base = trials["intermediate"] == BASELINE
            for arm, pool in ((BASELINE, trials[is_base]), (SELECTED, trials[~is_base])):
                if not pool.empty:
                    records.append({"model": model, "target": target, "arm": arm, **_choose(pool, target)})
    return pd.DataFrame(records, columns=SELECTED_COLUMNS)


def _choose(pool: pd.DataFrame, target: str) -> dict:
    dev, test = f"{DEV_PREFIX}{target}", f"{SCORE_PREFIX}{target}"
    ranked = pool.sort_values([dev, "intermediate", "trial_id"], ascending=[False, True, True], kind="stable")
    best = ranked.iloc[0]
    same = pd.Series(True, index=ranked.index)
    for key in CONFIG_KEYS:
        same &= (ranked[key] == best[key]) | (ranked[key].isna() & pd.isna(best[key]))
    seeds = ranked[same & ranked[test].notna()].groupby("seed", sort=True).head(1)  # the best-dev trial per seed
    return {
        "intermediate": best["intermediate"], "trial_id": best["trial_id"], "lr_intermediate": best["lr_intermediate"],
        "lr_target": best["lr_target"], "dev": float(best[dev]), "test_mean": seeds[test].mean(),
        "test_std": seeds[test].std(), "n_seeds": len(seeds), "seed_trials": ";".join(sorted(seeds["trial_id"])),
    }


def xtreme_targets(targets: list[str]) -> list[str]:
    """The run's targets in XTREME's order (XNLI, PAWS-X, POS, NER, XQuAD, MLQA, TyDiQA, BUCC, Tatoeba), then any
    other target of the run.

    >>> xtreme_targets(["tatoeba", "xquad", "xnli"])
    ['xnli', 'xquad', 'tatoeba']
    """
    return [t for t in XTREME_ORDER if t in targets] + [t for t in targets if t not in XTREME_ORDER]


def average_label(targets: list[str]) -> str:
    """The average column's name; it says when the run has fewer than XTREME's nine tasks.

    >>> average_label(["xnli", "pawsx"]), average_label(XTREME_ORDER)
    ('XTREME avg (2 of 9 tasks)', 'XTREME avg')
    """
    n = len([t for t in targets if t in _NINE])
    return "XTREME avg" if n == len(_NINE) else f"XTREME avg ({n} of {len(_NINE)} tasks)"


_NINE = [t for tasks in TASK_CATEGORIES.values() for t in tasks]


def xtreme_average(scores: dict[str, float], targets: list[str]) -> float:
    """Plain mean of the task scores of the run's XTREME targets; NaN unless every one of them has a score.

    >>> xtreme_average({"xnli": 80.0, "xquad": 70.0}, ["xnli", "xquad"])
    75.0
    >>> xtreme_average({"xnli": 80.0}, ["xnli", "xquad"])
    nan
    """
    values = [scores.get(t, math.nan) for t in targets if t in _NINE]
    if not values or any(pd.isna(v) for v in values):
        return math.nan
    return sum(values) / len(values)


def headline_table(chosen: pd.DataFrame) -> pd.DataFrame:
    """The paper's table as display strings: per model its `none` row, its dev-selected row (test, +- std over
    seeds, n), the selected task per target (with the dev score that chose it) and the gain, then the published
    XLM-R Large and X-STILTs rows (only the columns the reference has). Last column: the XTREME average.

    >>> headline_table(dev_selected(load_results("runs/pt")))      # doctest: +SKIP
    """
    targets = xtreme_targets(list(dict.fromkeys(chosen["target"])))
    avg = average_label(targets)
    rows: dict[str, dict[str, str]] = {}
    for model in dict.fromkeys(chosen["model"]):
        arms = {arm: rows_.set_index("target") for arm, rows_ in chosen[chosen["model"] == model].groupby("arm")}
        tests = {arm: table["test_mean"].to_dict() for arm, table in arms.items()}
        for arm in (BASELINE, SELECTED):
            if arm in arms:
                cells = {t: _test_cell(arms[arm], t) for t in targets}
                rows[f"{model} / {arm}"] = {**cells, avg: _number(xtreme_average(tests[arm], targets))}
        if SELECTED in arms:
            rows[f"{model}: selected task (its dev score)"] = {
                t: f"{arms[SELECTED].at[t, 'intermediate']} ({arms[SELECTED].at[t, 'dev']:.2f})"
                if t in arms[SELECTED].index else "n/a" for t in targets}
        if BASELINE in arms and SELECTED in arms:
            gains = {t: tests[SELECTED].get(t, math.nan) - tests[BASELINE].get(t, math.nan) for t in targets}
            total = xtreme_average(tests[SELECTED], targets) - xtreme_average(tests[BASELINE], targets)
            rows[f"{model}: gain (test)"] = {**{t: _number(g, signed=True) for t, g in gains.items()},
                                             avg: _number(total, signed=True)}
    for name, values in PUBLISHED_XLMR_LARGE.items():
        rows[f"published: {name}"] = {t: _number(values.get(t, math.nan)) for t in targets}
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=[*targets, avg]).fillna("n/a")
    table.index.name = "row"
    return table


def _test_cell(rows: pd.DataFrame, target: str) -> str:
    if target not in rows.index:
        return "n/a"
    row = rows.loc[target]
    spread = "" if pd.isna(row["test_std"]) else f" +- {row['test_std']:.2f}"
    return f"{_number(row['test_mean'])}{spread} (n={int(row['n_seeds'])})"


def _number(value: float, signed: bool = False) -> str:
    if pd.isna(value):
        return "n/a"
    return f"{value:+.2f}" if signed else f"{value:.2f}"
