"""The DeepSpeed memory benchmark (bench/zero_memory.py) runs end to end at a toy size (no timing assertions).

It starts Ray, so it runs as a subprocess (`python -m bench zero_memory`): it gets its own Ray and leaves none.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_zero_memory_benchmark_prints_a_ratio_below_one() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "zero_memory", "--model", "tiny", "--steps", "2", "--batch", "4",
         "--length", "16", "--precisions", "fp32"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    match = re.fullmatch(r"zero_memory: (\d+\.\d{3}) \(target <= 0\.55; the limit is 0\.5; tiny, 2 workers, .*fp32 "
                         r"\d\.\d{3}: ZeRO-3 [\d.]+ MiB vs ZeRO-0 [\d.]+ MiB; .*\)", lines[-1])
    assert match, lines[-1]
    assert 0 < float(match.group(1)) < 1
    zero3 = [line for line in lines if "fp32 ZeRO-3 rank" in line]
    assert len(zero3) == 2 and all("encoder built partitioned: True" in line for line in zero3)
