"""What a search prints: progress lines that say which target and which of its steps, and the libraries' messages
in the run's log file instead of on the console (unless --verbose)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from raytl.config import parse_space
from raytl.pipeline.progress import Progress, TargetResult, trial_metrics
from raytl.search.progress import ProgressPrinter
from tests.conftest import tiny_space

REPO = Path(__file__).resolve().parents[1]
# DeepSpeed warns while it is imported on a machine without a GPU; then one message per library and a warning
LIBRARIES_SPEAK = """
import logging, sys, warnings
from pathlib import Path
from raytl.search.console import route_library_logs
route_library_logs(Path(sys.argv[1]), verbose=sys.argv[2] == "verbose")
import deepspeed
deepspeed.utils.logger.warning("deepspeed speaks")
logging.getLogger("ray.tune.search").warning("ray speaks")
logging.getLogger("optuna.storages").warning("optuna speaks")
logging.getLogger("transformers.modeling_utils").warning("transformers speaks")
logging.getLogger("torch.distributed").warning("torch speaks")
warnings.warn("python speaks", UserWarning)
logging.getLogger("ray").error("ray fails")
print("raytl speaks")
"""
SPEAKERS = ("deepspeed", "ray", "optuna", "transformers", "torch", "python")


def test_progress_line_names_the_trial_its_target_and_the_step_of_the_phase(capsys: pytest.CaptureFixture[str]
                                                                            ) -> None:
    space = parse_space(tiny_space(Path("runs"), targets=["xnli", "pawsx"]))
    # the second target, 40 steps into its phase: 100 steps summed over the targets, the scheduler's axis
    progress = Progress(completed={"xnli": TargetResult(dev=70.0)}, target="pawsx", step=40, steps_before=60,
                        best=TargetResult(dev=80.0, dev_languages={"en": {"accuracy": 80.0}}))
    result = {**trial_metrics(space, progress), "target_steps": 60}
    assert (result["step"], result["target"], result["target_step"]) == (100, "pawsx", 40)
    trial = SimpleNamespace(trial_id="81261a0b", config={"model": "tiny", "intermediate": "mnli"}, status="RUNNING")
    ProgressPrinter().on_trial_result(0, [trial], trial, result)
    line = capsys.readouterr().out
    assert "] trial 81261a0b (mnli, tiny) pawsx step 40/60 objective 75.00 | running 1, finished 0 | best 75.00 " \
           "(mnli, tiny)" in line


@pytest.mark.parametrize("verbose", [False, True])
def test_library_messages_go_to_the_run_log_and_reach_the_console_only_with_verbose(tmp_path: Path,
                                                                                     verbose: bool) -> None:
    log = tmp_path / "run" / "search.log"
    done = subprocess.run([sys.executable, "-c", LIBRARIES_SPEAK, str(log), "verbose" if verbose else "quiet"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    console, written = done.stdout + done.stderr, log.read_text()
    assert "Setting accelerator to CPU" in written  # DeepSpeed's import-time [WARNING]
    assert all(f"{who} speaks" in written for who in SPEAKERS) and written.count("deepspeed speaks") == 1
    assert "raytl speaks" in done.stdout and "ray fails" in console  # raytl's own lines and errors always show
    if verbose:
        assert "[WARNING]" in console and all(f"{who} speaks" in console for who in SPEAKERS)
    else:
        assert "[WARNING]" not in console and not any(f"{who} speaks" in console for who in SPEAKERS)
