"""The trial start-up benchmark runs end to end at a toy size (no timing assertions).

It starts Ray, so it runs as a subprocess (`python -m bench startup`), which gets its own Ray and leaves none.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_startup_benchmark_prints_its_figure_last() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "startup", "--repeats", "1", "--train-size", "128",
                           "--no-warmup", "--no-breakdown"], cwd=REPO, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"startup: \d+\.\d{2} \(target <= 1\.2; warm raytl trial .* median \[min\] of 1 per-repeat "
                        r"ratios; cold cache \d+\.\d{2} \[min \d+\.\d{2}\]; seconds: bare .*\)", lines[-1])
    assert any(line.startswith("repeat 0: seconds from trial start to first step: bare ") for line in lines)


def test_first_step_is_stamped_once_and_reaches_the_summary_fields() -> None:
    """`fit` stamps the end of this process's first optimizer step; the worker turns it into summary fields."""
    import time

    from raytl.pipeline.worker import startup_times
    from raytl.training.loop import FIRST_STEP, fit

    class Steps:
        def train_step(self, micro_batches: list, loss_fn: object) -> float:
            time.sleep(0.01)
            return 1.0

    FIRST_STEP.clear()
    started = time.time()
    assert startup_times(started) == {"worker_started_at": started}
    fit(Steps(), iter([[{}]] * 3), lambda logits, batch: logits, start_step=0, total_steps=3, eval_every=3,
        on_evaluation=lambda step, loss: None)
    times = startup_times(started)
    assert started < times["first_step_at"] < time.time() - 0.015  # the first of three steps, not the last
    assert times["first_step_s"] == round(times["first_step_at"] - started, 3)
    FIRST_STEP.clear()
