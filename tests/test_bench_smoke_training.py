"""The training benchmarks (loop_overhead, padding, phase_reuse) run end to end at toy sizes (no timing assertions).

The ones that start Ray run as subprocesses (`python -m bench NAME`), so each gets its own Ray and leaves none.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _bench_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))  # bench/ sits beside raytl/ and is not installed


def _bench(*argv: str, timeout: float) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_runner_knows_the_training_benchmarks() -> None:
    from bench.__main__ import benchmark_names

    assert {"loop_overhead", "padding", "phase_reuse"} <= set(benchmark_names())
    assert "_training" not in benchmark_names()


def test_xnli_like_lengths_have_the_documented_shape() -> None:
    from bench.padding import xnli_like_lengths

    lengths = xnli_like_lengths(20000, 128, seed=0)
    assert 45 <= lengths.mean() <= 56 and lengths.max() == 128 and lengths.min() >= 6
    assert 0.002 < np.mean(lengths == 128) < 0.05  # a tail past max length, truncated


def test_padding_counts_real_and_padded_tokens() -> None:
    import torch

    from bench.padding import efficiency, to_max_length

    batch = {"input_ids": torch.tensor([[0, 7, 2], [0, 2, 1]]), "labels": torch.tensor([0, 1])}
    assert efficiency(iter([batch]), pad_id=1) == 5 / 6
    assert efficiency(iter([to_max_length(batch, 6, pad_id=1)]), pad_id=1) == 5 / 12


def test_padding_benchmark_prints_its_figure_last(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.padding import main

    main(["--rows", "400", "--batch", "16", "--world", "2", "--train-rows", "32", "--repeats", "1", "--model", "tiny"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"padding: \d\.\d{3} \(target >= 0\.9; fixed 128-token padding 0\.\d{3}; .*x\]\)", last)


@pytest.mark.slow
def test_loop_overhead_benchmark_runs_every_loop() -> None:
    pytest.importorskip("accelerate", reason="Hugging Face Trainer needs accelerate")
    lines = _bench("loop_overhead", "--model", "tiny", "--steps", "2", "--warmup", "1", "--repeats", "1",
                   "--length", "16", timeout=900)
    assert re.fullmatch(r"loop_overhead: \d+\.\d{3} \(target >= 0\.95 .*raytl-zero2 .*\)", lines[-1])


@pytest.mark.slow
def test_phase_reuse_builds_each_intermediate_once_across_interrupt_and_resume() -> None:
    lines = _bench("phase_reuse", "--intermediates", "mnli", "--target-lrs", "2e-3,3e-3", "--targets", "xnli",
                   "--steps", "2", timeout=1200)
    assert re.fullmatch(r"phase_reuse: 1/1 .*resume of the finished run: 0 more; trials completed 4/4\)", lines[-1])
