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


def test_first_step_is_stamped_once_and_reaches_the_summary_fields(tmp_path: Path) -> None:
    """`fit` calls `on_step` after every step; the trial record keeps the first and turns it into summary fields."""
    import time

    from raytl.config import parse_space
    from raytl.pipeline.context import TrialContext
    from raytl.pipeline.phase_id import TrialParams
    from raytl.pipeline.progress import TrialRecord
    from raytl.pipeline.run_dir import RunDir
    from raytl.training.engine import Ranks
    from raytl.training.loop import fit
    from tests.conftest import tiny_space

    class Steps:
        def train_step(self, micro_batches: list, loss_fn: object) -> float:
            time.sleep(0.01)
            return 1.0

    trial = TrialContext(parse_space(tiny_space(tmp_path)), TrialParams("tiny", "none", 0.0, 1e-3), Ranks(0, 1),
                         RunDir(tmp_path / "run"), "t0")
    record = TrialRecord(trial, send=lambda metrics, checkpoint: None, checkpoint=None)
    assert record.startup() == {"worker_started_at": record.started}
    fit(Steps(), iter([[{}]] * 3), lambda logits, batch: logits, start_step=0, total_steps=3, eval_every=3,
        on_evaluation=lambda step, loss: None, on_step=record.first_step)
    times = record.startup()
    assert record.started < times["first_step_at"] < time.time() - 0.015  # the first of three steps, not the last
    assert times["first_step_s"] == round(times["first_step_at"] - record.started, 3)
