"""The search-efficiency and preprocessing-cache benchmarks run end to end at toy sizes (no timing assertions)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))  # bench/ sits beside raytl/ and is not installed


def test_preprocess_cache_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.preprocess_cache import main

    main(["--rows", "300", "--repeats", "1", "--max-length", "48"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"preprocess_cache: \d+\.\d{4} \(target <= 0\.05;.* 300 xnli train rows .*rows identical: "
                        r"True\)", lines[-1])
    assert re.match(r"repeat 0: 300 rows, [\d,]+ tokens; first trial", lines[-2])


def test_planted_table_plants_one_best_task_per_target() -> None:
    from bench.search_efficiency import _parse, planted_table

    args = _parse(["--margin", "2"])
    table, planted = planted_table(3, ["xnli", "udpos"], args.intermediates, args)
    for target, best in planted.items():
        scores = {task: table.cell("large", task, target).score for task in args.intermediates}
        runner_up = max(score for task, score in scores.items() if task != best)
        assert scores[best] == pytest.approx(runner_up + 2)
        assert table.best_intermediate(target, args.models, args.intermediates) == best
    assert planted_table(3, ["xnli", "udpos"], args.intermediates, args) == (table, planted), "seeded"


def test_curve_models_share_the_scores_and_differ_in_the_curves() -> None:
    from bench.search_efficiency import _parse, planted_table

    shared_args, independent_args = _parse([]), _parse(["--curves", "independent"])
    assert shared_args.curves == "shared", "the default"
    targets = ["xnli", "udpos"]
    shared, planted = planted_table(1, targets, shared_args.intermediates, shared_args)
    independent, same_planted = planted_table(1, targets, independent_args.intermediates, independent_args)
    assert planted == same_planted
    assert {k: c.score for k, c in shared.cells.items()} == {k: c.score for k, c in independent.cells.items()}
    for model in shared_args.models:
        for target in targets:
            taus = [shared.cell(model, task, target).tau for task in shared_args.intermediates]
            gaps = [shared.cell(model, task, target).gap for task in shared_args.intermediates]
            assert max(taus) / min(taus) < 2.5, "one time constant per (model, target), jittered ~15%"
            assert max(gaps) - min(gaps) < 15.0, "one gap per (model, target), jittered ~2 points"
    assert shared != independent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_search_efficiency_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    from bench.search_efficiency import main

    try:
        main(["--seeds", "1", "--models", "large", "--intermediates", "none,mnli,qqp", "--targets", "xnli",
              "--num-trials", "4", "--intermediate-steps", "20", "--target-steps", "40", "--eval-every", "10",
              "--defaults-of", "large"])
    finally:
        ray.shutdown()
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"search_efficiency: (\d+\.\d{3}|inf) \(target <= 0\.2; .* median of 1 seeds; shared "
                        r"curves; asha rf 3 grace 1, per_target, 4 trials per study, 4 at once, defaults of large "
                        r"first\)", lines[-1])
    assert lines[0].startswith("curves: shared (per model x target gap")
    assert any(re.match(r"  seed 0: found at ", line) for line in lines)
