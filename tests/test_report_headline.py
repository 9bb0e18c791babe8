"""The headline table and the dev-only selection of every report choice, on per-target and joint run directories
written by hand in the summary.json schema, with dev and test planted to disagree."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from raytl.cli import app
from raytl.report.answer import NO_WINNER, answer_table
from raytl.report.headline import PUBLISHED_XLMR_LARGE, SELECTED, dev_selected, headline_table
from raytl.report.languages import language_gains, language_matrix
from raytl.report.results import load_results
from raytl.report.scaling import best_model, scaling_table
from raytl.report.selection import select_trials
from raytl.report.transfer import best_per_target, flag_text, transfer_table
from raytl.report.xtreme_tables import configurations, published_comparison
from tests.conftest import scramble_tests

PARAMS = {"base": 270_000_000, "large": 560_000_000}
GROUPS = {"none": "baseline", "mnli": "simple NLI", "squad_v2": "QA", "sst2": "single sentence"}
LANGS = {"xnli": ["en", "de", "sw"], "pawsx": ["en", "de"], "xquad": ["en", "de"]}
METRIC = {"xnli": "accuracy", "pawsx": "accuracy", "xquad": "f1"}
# (dev, test) of each task's good configuration at XLM-R large. Dev and test disagree on purpose: on xnli test
# prefers squad_v2 and on pawsx sst2, but dev chooses mnli for both; on xquad both choose squad_v2.
PLANT = {
    "xnli": {"none": (78.0, 77.0), "mnli": (82.0, 78.0), "squad_v2": (80.0, 81.0), "sst2": (79.0, 76.0)},
    "pawsx": {"none": (85.0, 86.0), "mnli": (88.0, 86.5), "squad_v2": (86.0, 87.0), "sst2": (87.0, 89.0)},
    "xquad": {"none": (70.0, 72.0), "mnli": (71.0, 73.0), "squad_v2": (74.0, 75.0), "sst2": (69.0, 70.0)},
}
DEV_CHOICE = {"xnli": "mnli", "pawsx": "mnli", "xquad": "squad_v2"}
TEST_CHOICE = {"xnli": "squad_v2", "pawsx": "sst2", "xquad": "squad_v2"}
SEED_DEV = {0: 0.0, 1: -0.2, 2: 0.2}  # seed 2 is the best-dev trial of every configuration
SEED_TEST = {0: -1.0, 1: 0.0, 2: 1.0}  # test mean over seeds = planted, sample std = 1
# The second learning rate: worse on dev, much better on test. Never chosen, never averaged in.
LR_TARGET = {2e-5: (0.0, 0.0), 1e-5: (-3.0, 6.0)}
BASE_SHIFT = -5.0  # XLM-R base: everything 5 points lower


def target_result(target: str, model: str, task: str, seed: int, lr: float) -> dict:
    dev, test = PLANT[target][task]
    shift = BASE_SHIFT if model == "base" else 0.0
    dev += shift + SEED_DEV[seed] + LR_TARGET[lr][0]
    test += shift + SEED_TEST[seed] + LR_TARGET[lr][1]
    spread = {lang: 2.0 * (i - (len(LANGS[target]) - 1) / 2) for i, lang in enumerate(LANGS[target])}  # mean 0
    if target == "xquad":  # task score (EM+F1)/2 = test; F1 = test + 5
        languages = {lang: {"exact_match": test + d - 5.0, "f1": test + d + 5.0} for lang, d in spread.items()}
    else:
        languages = {lang: {METRIC[target]: test + d} for lang, d in spread.items()}
    return {"dev": dev, "selected_step": 100, "dev_languages": {"en": {METRIC[target]: dev}}, "score": test,
            "metric": METRIC[target], "languages": languages}


def summary(trial_id: str, model: str, task: str, seed: int, lr: float, targets: list[str],
            status: str = "completed") -> dict:
    results = {t: target_result(t, model, task, seed, lr) for t in targets}
    return {
        "trial_id": trial_id, "status": status, "selection": "en_dev", "note": "", "resumed_at": [], "startup": {},
        "config": {"model": model, "intermediate": task, "lr_intermediate": None if task == "none" else 1e-05,
                   "lr_target": lr, "seed": seed},
        "model_params": PARAMS[model], "intermediate_group": GROUPS[task], "step": 100,
        "objective": sum(r["dev"] for r in results.values()) / len(results), "targets": results,
    }


def write(trials_dir: Path, data: dict) -> None:
    path = trials_dir / data["trial_id"] / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def configs() -> list[tuple[str, str, int, float]]:
    return [(m, task, seed, lr) for m in PARAMS for task in GROUPS for seed in SEED_DEV for lr in LR_TARGET]


def make_per_target_run(root: Path) -> Path:
    """RUN_DIR/targets/<target>/trials/*: one study per target, each trial scored on its target only."""
    for target in LANGS:
        trials = root / "targets" / target / "trials"
        for n, (model, task, seed, lr) in enumerate(configs()):
            write(trials, summary(f"{target}_{n:03d}", model, task, seed, lr, [target]))
        # a running trial whose dev beats everything: not completed, never chosen
        write(trials, summary(f"{target}_live", "large", "sst2", 0, 2e-5, [target], status="running")
              | {"objective": 99.0})
        (root / "targets" / target / "space.yaml").write_text(f"targets: [{target}]\n", encoding="utf-8")
    winners = {t: {"trial_id": f"{t}_best", "intermediate": DEV_CHOICE[t], "lr_target": 2e-5} for t in LANGS}
    (root / "winners.json").write_text(json.dumps(winners), encoding="utf-8")
    (root / "space.yaml").write_text("search: {mode: per_target}\n", encoding="utf-8")
    return root


def make_joint_run(root: Path) -> Path:
    """RUN_DIR/trials/*: every trial scored on every target."""
    for n, (model, task, seed, lr) in enumerate(configs()):
        write(root / "trials", summary(f"j{n:03d}", model, task, seed, lr, list(LANGS)))
    (root / "space.yaml").write_text("search: {mode: joint}\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module", params=["per_target", "joint"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    make = make_per_target_run if request.param == "per_target" else make_joint_run
    return make(tmp_path_factory.mktemp(request.param))


def test_per_target_run_is_read_from_its_studies(tmp_path: Path) -> None:
    df = load_results(make_per_target_run(tmp_path))
    assert len(df) == 3 * (len(configs()) + 1)
    assert sorted(df["study"].unique()) == sorted(LANGS) and set(df["selection"]) == {"en_dev"}
    xnli = df[df["study"] == "xnli"]
    assert xnli["dev:xnli"].notna().all() and xnli["score:pawsx"].isna().all()
    # per (study, model, task, seed) one trial: the better-dev learning rate
    selected = select_trials(df)
    assert len(selected) == 3 * len(PARAMS) * len(GROUPS) * len(SEED_DEV) and set(selected["lr_target"]) == {2e-5}


def test_headline_picks_by_dev_where_test_disagrees(run: Path) -> None:
    df = load_results(run)
    chosen = dev_selected(df).set_index(["model", "target", "arm"])
    for target, task in DEV_CHOICE.items():
        row = chosen.loc[("large", target, SELECTED)]
        assert row["intermediate"] == task != (TEST_CHOICE[target] if target != "xquad" else None)
        assert row["dev"] == pytest.approx(PLANT[target][task][0] + SEED_DEV[2])
        assert row["lr_target"] == 2e-5 and row["n_seeds"] == 3
        # test = mean over the configuration's three seeds (not the 1e-5 configuration's better test)
        assert row["test_mean"] == pytest.approx(PLANT[target][task][1]) and row["test_std"] == pytest.approx(1.0)
        base = chosen.loc[("large", target, "none")]
        assert base["test_mean"] == pytest.approx(PLANT[target]["none"][1]) and base["n_seeds"] == 3
    # the planted data is a real test: a test-based choice would differ on xnli and pawsx
    tests = {t: max((v[1], k) for k, v in PLANT[t].items() if k != "none")[1] for t in PLANT}
    assert tests == TEST_CHOICE and TEST_CHOICE != DEV_CHOICE


def test_headline_table_average_gain_and_published_rows(run: Path) -> None:
    table = headline_table(dev_selected(load_results(run)))
    avg = "XTREME avg (3 of 9 tasks)"
    assert list(table.columns) == ["xnli", "pawsx", "xquad", avg]  # XTREME's order
    selected = {t: PLANT[t][DEV_CHOICE[t]][1] for t in PLANT}
    none = {t: PLANT[t]["none"][1] for t in PLANT}
    assert table.loc["large / dev-selected", "xnli"] == f"{selected['xnli']:.2f} +- 1.00 (n=3)"
    assert table.loc["large / dev-selected", avg] == f"{sum(selected.values()) / 3:.2f}"
    assert table.loc["large / none", avg] == f"{sum(none.values()) / 3:.2f}"
    gain = sum(selected.values()) / 3 - sum(none.values()) / 3
    assert table.loc["large: gain (test)", avg] == f"{gain:+.2f}"
    assert table.loc["large: gain (test)", "xnli"] == f"{selected['xnli'] - none['xnli']:+.2f}"
    assert table.loc["large: selected task (its dev score)", "xnli"] == "mnli (82.20)"
    assert table.loc["base / dev-selected", "xquad"] == f"{selected['xquad'] + BASE_SHIFT:.2f} +- 1.00 (n=3)"
    for name, values in PUBLISHED_XLMR_LARGE.items():
        assert table.loc[f"published: {name}"].tolist() == [f"{values[t]:.2f}" for t in LANGS] + ["n/a"]
    assert list(table.index)[-2:] == [f"published: {name}" for name in PUBLISHED_XLMR_LARGE]


def test_nine_targets_average_is_the_plain_mean(tmp_path: Path) -> None:
    nine = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
    for i, task in enumerate(("none", "mnli")):
        data = summary(f"n{i}", "large", task, 0, 2e-5, ["xnli"])
        data["targets"] = {t: {"dev": 50.0 + j, "score": 40.0 + j + 10 * i, "languages": {}}
                           for j, t in enumerate(nine)}
        write(tmp_path / "trials", data)
    table = headline_table(dev_selected(load_results(tmp_path)))
    assert list(table.columns) == [*nine, "XTREME avg"]
    assert table.loc["large / none", "XTREME avg"] == f"{40.0 + 4.0:.2f}"  # mean of 40..48
    assert table.loc["large: gain (test)", "XTREME avg"] == "+10.00"
    assert table.loc["published: XLM-R Large", "udpos"] == "n/a"  # the reference has no UD-POS column


def test_every_choice_survives_scrambled_test_scores(run: Path, tmp_path: Path) -> None:
    scrambled = tmp_path / "scrambled"
    _copy_tree(run, scrambled)
    scramble_tests(scrambled)
    a, b = load_results(run), load_results(scrambled)
    assert not a["score:xnli"].equals(b["score:xnli"])
    keys = ["model", "target", "arm", "intermediate", "trial_id", "lr_intermediate", "lr_target", "dev",
            "n_seeds", "seed_trials"]
    pd.testing.assert_frame_equal(dev_selected(a)[keys], dev_selected(b)[keys])
    assert select_trials(a)["trial_id"].tolist() == select_trials(b)["trial_id"].tolist()
    choice = ["model", "target", "best", "runner_up"]
    best_a, best_b = best_per_target(transfer_table(a)), best_per_target(transfer_table(b))
    pd.testing.assert_frame_equal(best_a[choice], best_b[choice])
    # mean dev over the targets: mnli 80.33 > squad_v2 80.00; mean test would choose squad_v2
    assert [c.label for c in configurations(a)][-1] == "large / mnli (best on dev)"
    assert configurations(a) == configurations(b)
    assert best_model(scaling_table(a)) == best_model(scaling_table(b)) == "large"
    assert (published_comparison(a)["run: task chosen on dev"].tolist()
            == published_comparison(b)["run: task chosen on dev"].tolist() == ["mnli", "mnli", "squad_v2"])
    rows = [r for r in headline_table(dev_selected(a)).index if "selected task" in r]
    pd.testing.assert_frame_equal(headline_table(dev_selected(a)).loc[rows], headline_table(dev_selected(b)).loc[rows])
    assert list(language_matrix(language_gains(a), "large").index) == list(
        language_matrix(language_gains(b), "large").index) == ["de", "en", "sw"]


def test_best_per_target_ranks_by_dev_gain(run: Path) -> None:
    best = best_per_target(transfer_table(load_results(run))).set_index(["model", "target"])
    xnli = best.loc[("large", "xnli")]
    assert (xnli["best"], xnli["runner_up"]) == ("mnli", "squad_v2")
    assert xnli["best_dev_gain"] == pytest.approx(4.0) and xnli["best_gain"] == pytest.approx(1.0)
    assert xnli["margin"] == pytest.approx(-3.0)  # test disagrees with dev: reported, not acted on
    assert flag_text(xnli["margin_exceeds_spread"]) == "no"


def _answer(run: Path) -> tuple[str, str, dict[str, str]]:
    """Model large's row of the answer: best on average, its gain, and the per-target cells by target."""
    df = load_results(run)
    row = answer_table(transfer_table(df), scaling_table(df)).set_index("model").loc["large"]
    cells = dict(cell.split(": ", 1) for cell in row["best per target"].split("; "))
    return row["best on average"], row["average gain"], cells


def test_answer_names_a_task_only_where_one_beats_the_baseline_on_dev(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    best, gain, targets = _answer(make_joint_run(tmp_path / "plain"))
    mnli = sum(PLANT[t]["mnli"][1] - PLANT[t]["none"][1] for t in PLANT) / len(PLANT)  # its average test gain
    assert best == "mnli" and gain.startswith(f"{mnli:+.2f} +- ")  # average dev gains: mnli +2.67, squad_v2 +2.33
    assert targets["xnli"] == "mnli +1.00 (no)" and targets["xquad"] == "squad_v2 +3.00 (no)"
    # `none` now leads xnli on dev by 8 points: every task's average dev gain is below 0, and on xnli none leads
    monkeypatch.setitem(PLANT["xnli"], "none", (90.0, 77.0))
    best, gain, targets = _answer(make_joint_run(tmp_path / "none_ahead"))
    assert best == f"{NO_WINNER} (closest: mnli)" and gain.startswith(f"mnli {mnli:+.2f} +- ")
    assert targets["xnli"] == f"{NO_WINNER} (closest: mnli +1.00)"  # its test gain is shown, it chose nothing
    assert targets["pawsx"] == "mnli +0.50 (no)" and targets["xquad"] == "squad_v2 +3.00 (no)"


def test_report_cli_on_a_per_target_run(tmp_path: Path) -> None:
    root = make_per_target_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    out = root / "report"
    for name in ("report.md", "report.html", "headline.csv", "results.csv", "results.parquet",
                 "best_per_target.csv"):
        assert (out / name).stat().st_size > 0
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Headline: no intermediate task against the dev-selected one" in md
    assert "Selection protocol: `en_dev`: English dev sets, XTREME's zero-shot protocol." in md
    assert "**only 3 of 9 tasks**" in md and "| published: XLM-R Large + X-STILTs | 80.40 | 87.70 | 77.20 |" in md
    assert "| large: selected task (its dev score) | mnli (82.20) | mnli (88.20) | squad_v2 (74.20) | n/a |" in md
    assert "`winners.json`" in md and "| xnli | xnli_best | mnli | 2e-05 |" in md
    headline = pd.read_csv(out / "headline.csv")
    assert len(headline) == len(PARAMS) * len(LANGS) * 2 and not headline["test_mean"].isna().any()


def test_target_dev_protocol_is_labelled(tmp_path: Path) -> None:
    from raytl.report.selection import protocol_text

    write(tmp_path / "trials", summary("a", "large", "mnli", 0, 2e-5, ["xnli"]) | {"selection": "target_dev"})
    assert "not zero-shot selection" in protocol_text(load_results(tmp_path))
    write(tmp_path / "trials", summary("b", "large", "none", 0, 2e-5, ["xnli"]))
    assert "**mixed**" in protocol_text(load_results(tmp_path))


def _copy_tree(src: Path, dst: Path) -> None:
    for path in src.rglob("*"):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


def test_summaries_without_dev_select_nothing(tmp_path: Path) -> None:
    data = summary("old", "large", "mnli", 0, 2e-5, ["xnli"])
    legacy = copy.deepcopy(data)
    del legacy["targets"]["xnli"]["dev"]
    write(tmp_path / "trials", legacy)
    assert dev_selected(load_results(tmp_path)).empty
    assert math.isnan(load_results(tmp_path).loc[0, "dev:xnli"])


@pytest.mark.parametrize("relative, pulled", [
    ("targets/xnli/trials/t1/summary.json", True),
    ("targets/xnli/space.yaml", True),
    ("winners.json", True),
    ("targets/xnli/train/t1/checkpoint_000001/model.pt", False),
    ("targets/xnli/trials/t1/best/xnli/encoder/model.safetensors", False),
    ("targets/xnli/tune/pt.xnli/trial_1/result.json", False),
    ("train/t1/checkpoint_000001/model.pt", False),
])
def test_report_pull_of_a_remote_per_target_run_skips_weights(relative: str, pulled: bool) -> None:
    """`raytl report s3://.../RUN` pulls the summaries of every target's study, not their checkpoints."""
    from raytl.pipeline.run_dir import _pulled

    assert _pulled(relative) is pulled
