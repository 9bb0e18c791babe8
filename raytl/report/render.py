"""`raytl report RUN_DIR`: write report.md, report.html, the figures and tables of a run (live or done)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from raytl.errors import InputError
from raytl.report.answer import answer_table
from raytl.report.complexity import complexity_rows, fit_interaction, level_table, plot_complexity
from raytl.report.document import Document, plus_minus
from raytl.report.headline import (
    HEADLINE_RULE,
    XTREME_ORDER,
    average_label,
    dev_selected,
    headline_table,
    xtreme_targets,
)
from raytl.report.languages import language_gains, language_matrix, plot_languages
from raytl.report.priors import CROSS_TEXT, PRIOR_FILE, PRIOR_TEXT, prior_report
from raytl.report.results import (
    JOINT,
    STATUSES,
    load_results,
    pending_trials,
    target_names,
    write_results,
)
from raytl.report.scaling import best_model, gain_by_size, plot_scaling, scaling_table
from raytl.report.selection import SELECTION_RULE, model_order, protocol_text, select_trials
from raytl.report.transfer import best_per_target, flag_text, plot_transfer, transfer_matrix, transfer_table
from raytl.report.xtreme_tables import configurations, language_table, published_comparison, xtreme_summary

TRIAL_COLUMNS = ["trial_id", "study", "status", "model", "intermediate", "lr_intermediate", "lr_target", "seed",
                 "step", "objective"]


def build_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report of a run into `out_dir` (default `RUN_DIR/report/`) and return the report.md path.

    Works on a joint run (RUN_DIR/trials) and on a per-target run (RUN_DIR/targets/<target>/trials). Also
    written there: report.html (figures embedded), the PNG figures, results.csv/.parquet (one row per trial)
    and headline.csv, transfer.csv, best_per_target.csv, scaling.csv, languages.csv, complexity.csv (the gain ~
    log(params) x complexity fit), complexity_levels.csv, priors.csv (the prior's Spearman and Regret@k against the
    dev gains, when RUN_DIR/prior.json exists) and priors_cross_size.csv. Raises `InputError` for a missing run
    directory, a malformed trial summary or a malformed prior.json.

    >>> build_report("runs/r1")        # doctest: +SKIP
    PosixPath('runs/r1/report/report.md')
    """
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    df = load_results(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_results(df, out)
    doc = Document(f"raytl report: {run_dir.resolve().name}")
    _status_section(doc, df, run_dir)
    if select_trials(df).empty:
        doc.text("No completed trials yet: the analyses appear once trials complete.")
    else:
        protocol = protocol_text(df)
        doc.text(f"{protocol} Every choice below (best trial, task, model) reads dev scores only; test scores "
                 "are reported, never compared to choose.")
        _headline_section(doc, df, out, protocol)
        transfer, scaling = transfer_table(df), scaling_table(df)
        _answer_section(doc, transfer, scaling)
        _transfer_section(doc, df, transfer, out, protocol)
        _scaling_section(doc, df, scaling, out)
        _complexity_section(doc, df, out)
        _prior_section(doc, df, run_dir, out)
        _xtreme_section(doc, df, protocol)
    _config_section(doc, run_dir)
    md_path = out / "report.md"
    md_path.write_text(doc.to_markdown(), encoding="utf-8")
    (out / "report.html").write_text(doc.to_html(), encoding="utf-8")
    return md_path


def _status_section(doc: Document, df: pd.DataFrame, run_dir: Path) -> None:
    doc.heading("Run status")
    counts = {status: int((df["status"] == status).sum()) for status in STATUSES}
    counts["no summary yet"] = len(pending_trials(run_dir))
    counts["total"] = sum(counts.values())
    doc.table(pd.DataFrame([counts]), index=False)
    scored = df[df["objective"].notna()].sort_values("objective", ascending=False, kind="stable")
    completed = scored[scored["status"] == "completed"]
    best = pd.concat([completed.head(1).assign(rank="best completed"),
                      scored.head(1).assign(rank="best so far")])
    if best.empty:
        doc.text("No trial has reported an objective yet.")
        return
    targets = target_names(df)
    best["targets evaluated"] = [_evaluated(r, targets) for _, r in best.iterrows()]
    doc.text("Objective = mean dev selection score over the targets evaluated so far (in a per-target run, the "
             "study's target); a running or stopped trial may have fewer targets or an earlier step than a "
             "completed one.")
    for column in ("lr_intermediate", "lr_target"):
        best[column] = [None if pd.isna(v) else f"{v:g}" for v in best[column]]
    doc.table(best.set_index("rank")[TRIAL_COLUMNS + ["targets evaluated"]])
    _winners(doc, run_dir / "winners.json")


def _evaluated(row: pd.Series, targets: list[str]) -> str:
    """How many of its study's targets a trial has a dev score for (a per-target study has one target)."""
    own = targets if row["study"] == JOINT else [row["study"]]
    return f"{int(row[[f'dev:{t}' for t in own]].notna().sum())}/{len(own)}"


def _winners(doc: Document, path: Path) -> None:
    if not path.is_file():
        return
    try:
        winners = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: cannot read the per-target winners: {err}") from err
    doc.text("`winners.json` (per-target search): each target's completed trial with the highest objective, "
             "its dev score, as the search recorded it (it may be a `none` trial).")
    table = pd.DataFrame.from_dict(winners, orient="index").rename_axis("target")
    for column in [c for c in table.columns if str(c).startswith("lr_")]:
        table[column] = [None if pd.isna(v) else f"{v:g}" for v in table[column]]
    doc.table(table)


def _headline_section(doc: Document, df: pd.DataFrame, out: Path, protocol: str) -> None:
    chosen = dev_selected(df)
    chosen.to_csv(out / "headline.csv", index=False)
    doc.heading("Headline: no intermediate task against the dev-selected one (Phang et al. 2020's table)")
    targets = xtreme_targets(list(dict.fromkeys(chosen["target"])))
    label = average_label(targets)
    nine = [t for t in targets if t in XTREME_ORDER]
    coverage = ("all nine XTREME tasks" if len(nine) == len(XTREME_ORDER) else
                f"**only {len(nine)} of {len(XTREME_ORDER)} tasks** ({', '.join(nine)}): its average is over those "
                "and is not comparable with a published nine-task XTREME score")
    mode = ("per-target run: a target's candidates are its own study's trials" if (df["study"] != JOINT).any()
            else "joint run: every trial has each target's dev score, so the choice is made target by target")
    doc.text(f"{protocol} Rule ({mode}): {HEADLINE_RULE} Cells: test task score (QA: (EM+F1)/2), +- sample std "
             f"over seeds, n seeds. `{label}` = plain mean of the task scores (QA weighs 3 of 9); this run has "
             f"{coverage}. Gain = dev-selected minus `none`, on test.")
    doc.text("Rows marked **published** are copied from the literature (XLM-R Large, and XLM-R Large + X-STILTs "
             "of Phang et al. 2020, as quoted in the mT5 paper's README), only for the tasks that reference has; "
             "they are not produced by this run, and their QA columns are F1, not (EM+F1)/2 (the F1 comparison "
             "is in \"XLM-R Large against published numbers\").")
    doc.table(headline_table(chosen) if not chosen.empty else pd.DataFrame())


def _answer_section(doc: Document, transfer: pd.DataFrame, scaling: pd.DataFrame) -> None:
    doc.heading("Answer so far")
    doc.text("Per model: the intermediate task with the largest dev gain averaged over the run's targets, and "
             "the best task on dev for each target; values shown are TEST gains (and whether the test margin "
             "over the dev runner-up exceeds the seed spread). Where no task's dev gain is above 0, the answer "
             "is `none`: no intermediate task beats the baseline (the closest task is named).")
    answer = answer_table(transfer, scaling)
    if answer.empty:
        doc.text("No gains yet: a model needs a completed `none` baseline and a completed intermediate task.")
    else:
        doc.table(answer, index=False)


def _transfer_section(doc: Document, df: pd.DataFrame, table: pd.DataFrame, out: Path, protocol: str) -> None:
    table.to_csv(out / "transfer.csv", index=False)
    best = best_per_target(table)
    best.to_csv(out / "best_per_target.csv", index=False)
    doc.heading("Best intermediate task per target")
    doc.text(f"{protocol} Trial selection: {SELECTION_RULE} Gain = change of the target's score against the "
             "`none` baseline of the same model. `best` and `runner_up` are ranked by their **dev** gain "
             "(`*_dev_gain`); `*_gain`, `*_std` and `margin` are **test** (XTREME task score), reported only. "
             "**Margin exceeds seed spread** = yes when the best task's mean test gain beats the runner-up's by "
             "more than the sum of their seed standard deviations (their mean +- 1 std intervals do not "
             "overlap); no (also when test disagrees with dev: a negative margin); n/a with a single seed.")
    shown = best.assign(margin_exceeds_spread=best["margin_exceeds_spread"].map(flag_text))
    doc.table(shown.rename(columns={"margin_exceeds_spread": "margin exceeds seed spread"}), index=False)
    doc.heading("Transfer matrices (gain over no intermediate task, mean +- std over seeds)")
    for model in [m for m in model_order(df) if m in set(table["model"])]:
        means, stds = transfer_matrix(table, model), transfer_matrix(table, model, "gain_std")
        cells = pd.DataFrame({c: [plus_minus(m, s) for m, s in zip(means[c], stds[c], strict=True)]
                              for c in means.columns}, index=means.index)
        doc.text(f"XLM-R **{model}**")
        doc.table(cells)
        doc.image(plot_transfer(table, model, out / f"transfer_{model}.png"), f"transfer matrix, {model}")


def _scaling_section(doc: Document, df: pd.DataFrame, table: pd.DataFrame, out: Path) -> None:
    table.to_csv(out / "scaling.csv", index=False)
    doc.heading("Gain against model size")
    doc.text("Average = unweighted mean of the task scores over the run's targets; gain against the same "
             "model's `none` baseline; `slope_per_decade` = least-squares change of the gain per tenfold "
             "increase in parameters.")
    doc.table(gain_by_size(table))
    doc.table(table, index=False)
    doc.image(plot_scaling(table, out / "scaling.png"), "score and gain against model size")
    gains = language_gains(df)
    gains.to_csv(out / "languages.csv", index=False)
    model = best_model(table)
    matrix = language_matrix(gains, model) if model else pd.DataFrame()
    if matrix.empty:
        return
    doc.heading(f"Which languages benefit (XLM-R {model}, the model with the best dev score)")
    doc.text("Test gain per language on the target's task-score scale, averaged unweighted over the targets "
             "that test the language; languages by code (test values are not ranked). All models: "
             "languages.csv.")
    doc.table(matrix)
    doc.image(plot_languages(gains, model, out / f"languages_{model}.png"), f"per-language gain, {model}")


def _complexity_section(doc: Document, df: pd.DataFrame, out: Path) -> None:
    rows = complexity_rows(df)
    fit, levels = fit_interaction(rows), level_table(rows)
    fit.table.to_csv(out / "complexity.csv", index=False)
    levels.to_csv(out / "complexity_levels.csv", index=False)
    doc.heading("Gain against model size by task complexity")
    doc.text("Complexity level of each catalog intermediate task (`raytl tasks`): reasoning rank (0 masked-LM, "
             "1 sentiment or syntax, 2 sentence pairs, 3 reading comprehension or commonsense) + 1 if the data was "
             "built adversarially. Fit: gain ~ log10(parameters) x level, ordinary least squares on centred predictors "
             "over every (model, task, seed) gain; mixtures and tasks outside the catalog are left out.")
    doc.text(fit.note)
    if not fit.table.empty:
        doc.table(fit.table, index=False, digits=3)
    doc.table(levels, index=False)
    if not levels.empty:
        doc.image(plot_complexity(levels, fit, out / "complexity.png"), "gain against model size per complexity")


def _prior_section(doc: Document, df: pd.DataFrame, run_dir: Path, out: Path) -> None:
    table, cross = prior_report(run_dir, df)
    cross.to_csv(out / "priors_cross_size.csv", index=False)
    doc.heading("Transferability priors against the measured gains (dev)")
    if table is None:
        doc.text(f"No prior was recorded: the run has no `{PRIOR_FILE}` (its search used none, `search.prior: "
                 "none`, or predates priors).")
    else:
        table.to_csv(out / "priors.csv", index=False)
        doc.text(PRIOR_TEXT)
        doc.table(table, index=False)
    doc.text(CROSS_TEXT)
    if cross.empty:
        doc.text("Needs dev gains at two or more model sizes for a target; this run has fewer.")
    else:
        doc.table(cross, index=False)


def _xtreme_section(doc: Document, df: pd.DataFrame, protocol: str) -> None:
    if not configurations(df):
        return
    doc.heading("XTREME scores: baseline and best configuration per model")
    doc.text(f"{protocol} Best configuration = the intermediate task with the highest mean dev score over the "
             "run's targets; the values are its test scores. Task scores (QA: (EM+F1)/2; else F1 where the "
             "task has F1, else accuracy), category scores and `all_task` as computed by "
             "`raytl.tasks.scoring.summarize` over the run's targets; means over seeds. "
             "A label such as `all_task (3 of 9 tasks)` marks an average over fewer tasks than XTREME's, "
             "which is then not comparable with published overall scores.")
    doc.table(xtreme_summary(df))
    for target in target_names(df):
        doc.text(f"**{target}**: per-language scores (task-score scale)")
        doc.table(language_table(df, target))
    published = published_comparison(df)
    if not published.empty:
        doc.heading("XLM-R Large against published numbers")
        doc.text(f"{protocol} Columns marked **published** are copied from the literature (mT5 paper README; "
                 "X-STILTs = Phang et al., best intermediate task per target), not produced by this run. The "
                 "run's configurations are the headline's (chosen per target on dev); their values use the "
                 "published metric (QA: F1), test, averaged over the run's languages only, which may be fewer "
                 "than the official test languages.")
        doc.table(published)


def _config_section(doc: Document, run_dir: Path) -> None:
    doc.heading("Run configuration (space.yaml)")
    space = run_dir / "space.yaml"
    if space.is_file():
        doc.code(space.read_text(encoding="utf-8"))
    else:
        doc.text(f"{space} not found.")


