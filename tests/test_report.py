"""`raytl report`: synthetic run directories in the exact summary.json contract, with planted answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from raytl.errors import InputError
from raytl.report.languages import language_gains, language_matrix, plot_languages
from raytl.report.results import load_results, write_results
from raytl.report.scaling import best_model, gain_by_size, plot_scaling, scaling_table
from raytl.report.selection import select_trials
from raytl.report.transfer import best_per_target, flag_text, plot_transfer, transfer_matrix, transfer_table

PARAMS = {"base": 270_000_000, "large": 560_000_000, "xl": 3_500_000_000}
GROUPS = {"none": "baseline", "mnli": "simple NLI", "squad_v2": "QA", "sst2": "single sentence"}
LANGS = {"xnli": ["en", "de", "sw"], "xquad": ["en", "de"], "panx": ["en", "de", "sw"]}
# Planted gain of each task on each target at XLM-R large; it changes by SLOPE points per tenfold size.
GAIN = {
    "mnli": {"xnli": 3.0, "xquad": 1.0, "panx": 0.5},
    "squad_v2": {"xnli": 1.0, "xquad": 1.2, "panx": -1.0},
    "sst2": {"xnli": -0.5, "xquad": -2.0, "panx": 2.0},
}
SLOPE = {"mnli": 2.0, "squad_v2": 0.0, "sst2": -1.0}
# Per-language deviation from the target's gain, zero mean per target so the task-score gain stays planted.
SW_HELPED = {"en": -1.0, "de": -1.0, "sw": 2.0}
LANG_EXTRA = {("mnli", "xnli"): SW_HELPED, ("mnli", "panx"): SW_HELPED}
SEED_NOISE = {0: -0.5, 1: 0.0, 2: 0.5}  # sample std over seeds = 0.5
LR_TARGET = {2e-5: 0.0, 1e-5: -5.0}  # the lower learning rate is a worse trial the selection must skip
DEV_OFFSET = -1.0  # here dev = test - 1, so dev and test agree on every choice (tests/test_report_headline.py
# plants disagreements)


def planted_gain(model: str, task: str, target: str) -> float:
    if task == "none":
        return 0.0
    return GAIN[task][target] + SLOPE[task] * math.log10(PARAMS[model] / PARAMS["large"])


def language_metrics(target: str, value: float) -> dict[str, float]:
    """Metrics whose task-score reading (EM+F1)/2, F1 or accuracy equals `value`."""
    if target == "xquad":
        return {"exact_match": value - 6.0, "f1": value + 6.0}
    return {"f1": value} if target == "panx" else {"accuracy": value}


def summary(trial_id: str, status: str, model: str, task: str, seed: int, lr_target: float,
            targets: list[str]) -> dict:
    """One summary.json in the contract's exact shape."""
    results = {}
    for target in targets:
        languages = {}
        for i, lang in enumerate(LANGS[target]):
            extra = LANG_EXTRA.get((task, target), {}).get(lang, 0.0)
            value = (60.0 + 5.0 * list(PARAMS).index(model) + 2.0 * i + planted_gain(model, task, target)
                     + extra + SEED_NOISE[seed] + LR_TARGET[lr_target])
            languages[lang] = language_metrics(target, value)
        score = sum(_reading(target, m) for m in languages.values()) / len(languages)
        metric = {"xnli": "accuracy", "xquad": "f1", "panx": "f1"}[target]
        dev = score + DEV_OFFSET
        results[target] = {"dev": dev, "selected_step": 1000, "dev_languages": {"en": {metric: dev}},
                           "score": score, "metric": metric, "languages": languages}
    objective = sum(r["dev"] for r in results.values()) / len(results) if results else None
    return {
        "trial_id": trial_id, "status": status, "selection": "en_dev",
        "config": {"model": model, "intermediate": task, "lr_intermediate": None if task == "none" else 1e-05,
                   "lr_target": lr_target, "seed": seed},
        "model_params": PARAMS[model], "intermediate_group": GROUPS[task], "step": 1000,
        "objective": objective, "targets": results,
    }


def _reading(target: str, metrics: dict[str, float]) -> float:
    return (metrics["exact_match"] + metrics["f1"]) / 2 if target == "xquad" else next(iter(metrics.values()))


def write_summary(run_dir: Path, data: dict) -> None:
    path = run_dir / "trials" / data["trial_id"] / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def make_run(run_dir: Path, models: tuple[str, ...] = ("base", "large", "xl"), live: bool = True) -> Path:
    """A run with 3 seeds x 2 learning rates per (model, task), plus noise trials the report must ignore."""
    targets = list(LANGS)
    n = 0
    for model in models:
        for task in GROUPS:
            for seed in SEED_NOISE:
                for lr in LR_TARGET:
                    write_summary(run_dir, summary(f"t{n:03d}", "completed", model, task, seed, lr, targets))
                    n += 1
    if live:
        # A stopped trial and a running one that look better than anything completed, and a failed trial.
        stopped = summary("stop1", "stopped", "large", "sst2", 0, 2e-5, targets)
        stopped["targets"]["xnli"]["dev"] = stopped["objective"] = 99.0
        running = summary("run1", "running", "large", "sst2", 1, 2e-5, ["xnli"])
        running["objective"] = running["targets"]["xnli"]["dev"] = running["targets"]["xnli"]["score"] = 98.0
        failed = summary("fail1", "failed", "xl", "mnli", 0, 2e-5, [])
        for data in (stopped, running, failed):
            write_summary(run_dir, data)
        (run_dir / "trials" / "fresh").mkdir()  # a trial that has not written its first summary yet
    (run_dir / "space.yaml").write_text("models: [base, large, xl]\nseeds: [0, 1, 2]\n", encoding="utf-8")
    return run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def df(run: Path) -> pd.DataFrame:
    return load_results(run)


# ---- results -------------------------------------------------------------------------------------

def test_load_results_one_row_per_trial_with_partial_targets(df: pd.DataFrame) -> None:
    assert len(df) == 3 * 4 * 3 * 2 + 3
    assert {"score:xnli", "score:xquad", "score:panx", "xquad:de:exact_match", "xnli:sw:accuracy"} <= set(df)
    running = df.set_index("trial_id").loc["run1"]
    assert running["status"] == "running" and running["score:xnli"] == 98.0
    assert math.isnan(running["score:xquad"]) and math.isnan(running["panx:en:f1"])
    assert math.isnan(df.set_index("trial_id").loc["fail1", "objective"])


def test_write_results_round_trips(df: pd.DataFrame, tmp_path: Path) -> None:
    csv_path, parquet_path = write_results(df, tmp_path / "out")
    back = pd.read_parquet(parquet_path)
    assert list(back.columns) == list(df.columns) and len(back) == len(df)
    assert len(pd.read_csv(csv_path)) == len(df)


def test_selection_skips_unfinished_and_worse_learning_rates(df: pd.DataFrame) -> None:
    selected = select_trials(df)
    assert len(selected) == 3 * 4 * 3
    assert set(selected["status"]) == {"completed"} and set(selected["lr_target"]) == {2e-5}


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "cannot read trial summary"),
    ('{"trial_id": "bad"}', "missing key(s)"),
    ("[1, 2]", "must be a JSON object"),
])
def test_malformed_summary_names_the_file(tmp_path: Path, content: str, fragment: str) -> None:
    make_run(tmp_path, models=("large",), live=False)
    bad = tmp_path / "trials" / "bad" / "summary.json"
    bad.parent.mkdir()
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="bad/summary.json") as err:
        load_results(tmp_path)
    assert fragment in str(err.value)


def test_contract_violations_are_input_errors(tmp_path: Path) -> None:
    data = summary("x1", "finished", "large", "mnli", 0, 2e-5, ["xnli"])
    write_summary(tmp_path, data)
    with pytest.raises(InputError, match="status 'finished'"):
        load_results(tmp_path)
    data["status"] = "completed"
    data["targets"]["xnli"]["languages"]["de"]["accuracy"] = "high"
    write_summary(tmp_path, data)
    with pytest.raises(InputError, match="targets.xnli.languages.de.accuracy"):
        load_results(tmp_path)


def test_missing_run_dir_and_empty_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_results(tmp_path / "nope")
    empty = load_results(tmp_path)
    assert empty.empty and "objective" in empty.columns


# ---- transfer ------------------------------------------------------------------------------------

def test_transfer_matrix_reproduces_planted_gains(df: pd.DataFrame) -> None:
    table = transfer_table(df)
    for model in PARAMS:
        matrix = transfer_matrix(table, model)
        # complexity group ("QA" < "simple NLI" < "single sentence"), then name
        assert list(matrix.index) == ["squad_v2", "mnli", "sst2"]
        for task, gains in GAIN.items():
            for target in gains:
                assert matrix.loc[task, target] == pytest.approx(planted_gain(model, task, target))
    assert set(table["n_seeds"]) == {3}
    assert table["gain_std"].to_numpy() == pytest.approx(0.5)


def test_best_intermediate_per_target_with_margin_and_spread_flag(df: pd.DataFrame) -> None:
    best = best_per_target(transfer_table(df)).set_index(["model", "target"])
    xnli = best.loc[("large", "xnli")]
    assert (xnli["best"], xnli["runner_up"]) == ("mnli", "squad_v2")
    assert xnli["margin"] == pytest.approx(2.0) and xnli["seed_spread"] == pytest.approx(1.0)
    assert flag_text(xnli["margin_exceeds_spread"]) == "yes"
    xquad = best.loc[("large", "xquad")]
    assert (xquad["best"], xquad["margin"]) == ("squad_v2", pytest.approx(0.2))
    assert flag_text(xquad["margin_exceeds_spread"]) == "no"
    assert best.loc[("large", "panx"), "best"] == "sst2"
    # At xl mnli's planted trend makes it the best on xquad too.
    assert best.loc[("xl", "xquad"), "best"] == "mnli"


def test_spread_flag_unknown_with_one_seed(tmp_path: Path) -> None:
    for i, task in enumerate(("none", "mnli", "sst2")):
        write_summary(tmp_path, summary(f"s{i}", "completed", "large", task, 1, 2e-5, ["xnli"]))
    best = best_per_target(transfer_table(load_results(tmp_path)))
    assert best.loc[0, "best"] == "mnli" and best.loc[0, "margin"] == pytest.approx(3.5)
    assert flag_text(best.loc[0, "margin_exceeds_spread"]) == "n/a"


def test_no_baseline_gives_no_gain(tmp_path: Path) -> None:
    write_summary(tmp_path, summary("s1", "completed", "large", "mnli", 1, 2e-5, ["xnli"]))
    table = transfer_table(load_results(tmp_path))
    assert math.isnan(table.loc[0, "gain_mean"]) and table.loc[0, "score_mean"] > 0
    assert best_per_target(table).empty


# ---- scaling and languages -----------------------------------------------------------------------

def test_scaling_table_reproduces_planted_trend(df: pd.DataFrame) -> None:
    table = scaling_table(df)
    assert list(dict.fromkeys(table["model"])) == ["base", "large", "xl"]
    row = table.set_index(["model", "intermediate"]).loc[("xl", "mnli")]
    expected = sum(planted_gain("xl", "mnli", t) for t in LANGS) / len(LANGS)
    assert row["gain_mean"] == pytest.approx(expected) and row["gain_std"] == pytest.approx(0.5)
    trend = gain_by_size(table)
    for task, slope in SLOPE.items():
        assert trend.loc[task, "slope_per_decade"] == pytest.approx(slope)
    assert trend.loc["mnli", "base"] < trend.loc["mnli", "large"] < trend.loc["mnli", "xl"]
    assert trend.loc["sst2", "intermediate_group"] == "single sentence"
    assert best_model(table) == "xl"


def test_language_gains_find_the_helped_language(df: pd.DataFrame) -> None:
    gains = language_gains(df)
    row = gains.set_index(["model", "intermediate", "target", "language"]).loc[("xl", "mnli", "xnli", "sw")]
    assert row["gain_mean"] == pytest.approx(planted_gain("xl", "mnli", "xnli") + 2.0)
    matrix = language_matrix(gains, "xl")
    assert matrix["mnli"].idxmax() == "sw"
    # en is tested by all three targets: its gain is the unweighted mean over them.
    expected_en = sum(planted_gain("xl", "mnli", t) + SW_HELPED["en"] * (t != "xquad") for t in LANGS) / 3
    assert matrix.loc["en", "mnli"] == pytest.approx(expected_en)


# ---- figures -------------------------------------------------------------------------------------

def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_are_valid_pngs(df: pd.DataFrame, tmp_path: Path) -> None:
    assert_png(plot_transfer(transfer_table(df), "large", tmp_path / "transfer.png"))
    assert_png(plot_scaling(scaling_table(df), tmp_path / "scaling.png"))
    assert_png(plot_languages(language_gains(df), "xl", tmp_path / "languages.png"))


# ---- XTREME tables (need raytl.tasks.scoring) ----------------------------------------------------------------

def test_xtreme_tables_side_by_side(df: pd.DataFrame) -> None:
    from raytl.report.xtreme_tables import configurations, language_table, xtreme_summary
    from raytl.tasks.scoring import summarize

    labels = [c.label for c in configurations(df)]
    assert labels == ["base / none", "base / mnli (best on dev)", "large / none", "large / mnli (best on dev)",
                      "xl / none", "xl / mnli (best on dev)"]
    xnli = language_table(df, "xnli")
    # Planted baseline at large: 65 + 2 * language index, seed noise averaging to 0.
    baseline = xnli.loc[["en", "de", "sw", "task score"], "large / none"].tolist()
    assert baseline == pytest.approx([65, 67, 69, 67])
    assert xnli.loc["sw", "large / mnli (best on dev)"] == pytest.approx(69 + 3.0 + 2.0)
    summary_table = xtreme_summary(df)
    column = summary_table["large / mnli (best on dev)"]
    task_scores = {t: 65 + {"xnli": 2, "xquad": 1, "panx": 2}[t] + GAIN["mnli"][t] for t in LANGS}
    assert [column[t] for t in LANGS] == pytest.approx(list(task_scores.values()))
    for key, value in summarize(task_scores).items():
        row = [label for label in summary_table.index if label.split(" (")[0] == key]
        assert len(row) == 1 and column[row[0]] == pytest.approx(value)
    # Three of the nine targets: the overall row must not pass for the official XTREME score.
    assert "all_task (3 of 9 tasks)" in summary_table.index


def test_published_numbers_only_beside_large(df: pd.DataFrame, tmp_path: Path) -> None:
    from raytl.report.xtreme_tables import PUBLISHED_XLMR_LARGE, published_comparison

    table = published_comparison(df)
    assert list(table.index) == ["xnli", "panx", "xquad"]  # the published targets this run has
    xquad = table.loc["xquad"]
    # Published QA numbers are F1, so the run's column is mean F1 (planted as task-score reading + 6).
    assert xquad["run: large / none"] == pytest.approx(66 + 6)
    assert xquad["run: task chosen on dev"] == "squad_v2"
    assert xquad["run: large / task chosen on dev"] == pytest.approx(66 + 1.2 + 6)
    assert xquad["published: XLM-R Large"] == PUBLISHED_XLMR_LARGE["XLM-R Large"]["xquad"]
    assert published_comparison(load_results(make_run(tmp_path, models=("base",), live=False))).empty


# ---- the rendered report -----------------------------------------------------------------------------------

def test_build_report_writes_markdown_html_tables_and_pngs(run: Path, tmp_path: Path) -> None:
    from raytl.report.render import build_report

    md_path = build_report(run, tmp_path / "out")
    assert md_path == tmp_path / "out" / "report.md"
    md = md_path.read_text(encoding="utf-8")
    assert "| 1 | 72 | 1 | 0 | 1 | 1 | 76 |" in md  # running, completed, stopped, diverged, failed, pending
    assert "| best so far | stop1 | joint | stopped |" in md and "| best completed | t" in md
    assert ("| large | xnli | mnli | 3.00 | 3.00 | 0.50 | squad_v2 | 1.00 | 1.00 | 0.50 | 2.00 | 1.00 | yes | 3 |"
            in md)
    assert ("| large | xquad | squad_v2 | 1.20 | 1.20 | 0.50 | mnli | 1.00 | 1.00 | 0.50 | 0.20 | 1.00 | no | 3 |"
            in md)
    assert "published: XLM-R Large" in md and "seeds: [0, 1, 2]" in md
    # complexity from the catalog: mnli level 2 (slope 2.0/decade), sst2 level 1 (-1.0); squad_v2 is no catalog name
    assert "| log10_params:level | 3.000 | 3.000 | 3.000 |" in md
    assert "OLS on 18 (model, task, seed) gains, 3 model sizes, 2 complexity levels, 3 seed(s)." in md
    pngs = sorted(p.name for p in md_path.parent.glob("*.png"))
    assert pngs == ["complexity.png", "languages_xl.png", "scaling.png", "transfer_base.png", "transfer_large.png",
                    "transfer_xl.png"]
    for name in pngs:
        assert_png(md_path.parent / name)
        assert f"]({name})" in md
    html = (md_path.parent / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == len(pngs)
    assert html.count("<table>") == md.count("\n|---") and "<pre>models: [base, large, xl]" in html
    for name in ("results.csv", "results.parquet", "transfer.csv", "best_per_target.csv", "scaling.csv",
                 "languages.csv", "complexity.csv", "complexity_levels.csv"):
        assert (md_path.parent / name).stat().st_size > 0


def test_report_of_a_run_with_nothing_completed(tmp_path: Path) -> None:
    from raytl.report.render import build_report

    write_summary(tmp_path, summary("r1", "running", "large", "mnli", 0, 2e-5, ["xnli"]))
    (tmp_path / "trials" / "r2").mkdir()
    md_path = build_report(tmp_path)
    assert md_path == tmp_path / "report" / "report.md"
    md = md_path.read_text(encoding="utf-8")
    assert "| 1 | 0 | 0 | 0 | 0 | 1 | 2 |" in md and "| best so far | r1 | joint | running |" in md
    assert "No completed trials yet" in md and "space.yaml not found" in md
    assert (md_path.parent / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(md_path.parent.glob("*.png"))


def test_report_with_one_seed_says_why_the_complexity_fit_has_no_interval(tmp_path: Path) -> None:
    from raytl.report.render import build_report

    for n, (model, task) in enumerate((m, t) for m in ("base", "xl") for t in ("none", "mnli", "sst2")):
        write_summary(tmp_path, summary(f"t{n}", "completed", model, task, 0, 2e-5, list(LANGS)))
    md = build_report(tmp_path).read_text(encoding="utf-8")
    assert "One seed: no seed-based interval" in md and "| log10_params:level | 3.000 | n/a | n/a |" in md


def test_report_with_one_model_size_has_no_complexity_fit(tmp_path: Path) -> None:
    from raytl.report.render import build_report

    make_run(tmp_path, models=("large",), live=False)
    md = build_report(tmp_path).read_text(encoding="utf-8")
    assert "No fit: 1 model size(s) and 2 complexity level(s)" in md
    assert (tmp_path / "report" / "complexity.png").is_file()  # the measured gains per level are still drawn


def test_build_report_rejects_a_malformed_summary(tmp_path: Path) -> None:
    from raytl.report.render import build_report

    make_run(tmp_path, models=("large",), live=False)
    (tmp_path / "trials" / "t000" / "summary.json").write_text('{"trial_id": "t000", ', encoding="utf-8")
    with pytest.raises(InputError, match="t000/summary.json"):
        build_report(tmp_path)
    assert not (tmp_path / "report" / "report.md").exists()



def test_tiny_summaries_from_before_params_were_counted_report_the_zoo_size(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Summaries of tiny models once said `model_params: 0`: on a log axis that was a log10(0) warning, "no positive
    values" and, with two such sizes, a slope least squares could not fit. The zoo's count stands in."""
    import warnings

    from raytl.models.zoo import ZOO
    from raytl.report.render import build_report

    for model in ("tiny", "tiny4"):
        monkeypatch.setitem(PARAMS, model, ZOO[model].params)  # plants the gains; the summaries then say 0
    for n, (model, task, seed) in enumerate((m, t, s) for m in ("tiny", "tiny4") for t in ("none", "mnli", "sst2")
                                            for s in (0, 1)):
        write_summary(tmp_path, summary(f"t{n}", "completed", model, task, seed, 2e-5, list(LANGS))
                      | {"model_params": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_report(tmp_path)
    scaling = pd.read_csv(tmp_path / "report" / "scaling.csv").groupby("model")["model_params"].max()
    assert scaling.to_dict() == {"tiny": ZOO["tiny"].params, "tiny4": ZOO["tiny4"].params}
    slopes = gain_by_size(scaling_table(load_results(tmp_path)))["slope_per_decade"]
    assert slopes.to_dict() == pytest.approx({t: SLOPE[t] for t in ("mnli", "sst2")})  # planted, on the zoo's sizes
    data = summary("h1", "completed", "large", "none", 0, 2e-5, ["xnli"]) | {"model_params": 0}
    data["config"]["model"] = "hub:/models/unknown"
    write_summary(tmp_path / "hub", data)
    with pytest.raises(InputError, match="model_params must be positive, got 0"):
        load_results(tmp_path / "hub")
