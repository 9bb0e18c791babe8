"""The retrieval benchmark and its runner run end to end at toy sizes (no timing assertions)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))  # bench/ sits beside raytl/ and is not installed


def test_retrieval_benchmark_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.retrieval import main

    main(["--n", "300", "--dim", "32", "--repeats", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"retrieval: \d+\.\d\d \(target <= 1\.2.*pairs identical: True\)", lines[-1])


def test_runner_dispatches_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import benchmark_names, main

    assert "retrieval" in benchmark_names()
    main(["retrieval", "--n", "200", "--dim", "16", "--repeats", "1"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("retrieval: ")
    with pytest.raises(SystemExit, match="unknown benchmark 'nope'"):
        main(["nope"])
