"""Intermediate phases are trained once per run, not once per trial: an I x T grid through `raytl search`.

`python -m bench phase_reuse [--intermediates mnli,qqp] [--target-lrs 1e-3,3e-3] [--workers 1] [--keep DIR]`

A raytl trial trains its intermediate task once and then every target of the space, so the grid's second axis is
what makes trials need the same intermediate phase again: T target learning rates. The grid is
(I intermediate tasks + the `none` baseline) x T, every cell a point of `points_to_evaluate` (scheduler none,
one trial at a time), on a generated-data `tiny` space written to a temporary directory. Steps:

1. `raytl search SPACE` in a subprocess, interrupted with SIGINT (Ctrl-C) right after the first intermediate
   phase is published, while its trial trains a target;
2. `raytl resume RUN_DIR` finishes the grid; then a second `raytl resume` on the finished run.

Counted from the phase store's build records (`PhaseStore(RUN_DIR/"phases").builds()`, one per training that
ran): I in total (not I x T, what trials training their own intermediate would cost), and 0 more after the
finished run is resumed. The last line is the figure.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from raytl.config import NO_INTERMEDIATE
from raytl.pipeline.store import PhaseStore

CLI = "from raytl.cli import main; main()"


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--intermediates", "mnli", "--target-lrs", "2e-3", "--no-interrupt"])  # doctest: +SKIP
    """
    args = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="bench-phase-reuse-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        space = grid_space(args, root / "runs")
        space_file = root / "space.yaml"
        space_file.write_text(yaml.safe_dump(space, sort_keys=False))
        run_dir = root / "runs" / space["name"]
        store = PhaseStore(run_dir / "phases")
        print(f"grid: {len(args.intermediates)} intermediate tasks (+ {NO_INTERMEDIATE}) x {len(args.target_lrs)} "
              f"target learning rates = {space['search']['num_trials']} trials; targets {space['targets']}")
        interrupted_at = _search(space_file, store, interrupt=args.interrupt)
        _cli("resume", str(run_dir))
        after_run = len(store.builds())
        _cli("resume", str(run_dir))
        print(_figure(args, store, run_dir, interrupted_at, after_run))


def grid_space(args: argparse.Namespace, storage: Path) -> dict[str, Any]:
    """A generated-data `tiny` space whose `points_to_evaluate` are exactly the grid's cells."""
    phase = {"lr": {"low": 1.0e-3, "high": 3.0e-3}, "batch_size": 16, "max_length": 32}
    points = [
        {"model": "tiny", "intermediate": task, "lr_target": lr, **({} if task == NO_INTERMEDIATE else
                                                                    {"lr_intermediate": 2.0e-3})}
        for task in [*args.intermediates, NO_INTERMEDIATE]
        for lr in args.target_lrs
    ]
    return {
        "name": "phase-reuse",
        "storage": str(storage),
        "models": ["tiny"],
        "intermediate_tasks": [NO_INTERMEDIATE, *args.intermediates],
        "targets": args.targets,
        "intermediate": {**phase, "max_steps": args.steps, "eval_every": args.steps},
        "target": {**phase, "max_steps": args.steps, "eval_every": args.steps},
        "data": {"source": "generated", "generated_train_size": 16 * args.steps, "generated_eval_size": 32},
        "resources": {"num_workers": args.workers, "cpus_per_worker": 1},
        "deepspeed": {"zero_stage": 2},
        "search": {"num_trials": len(points), "max_concurrent_trials": 1, "seed": 0, "points_to_evaluate": points},
        "scheduler": {"type": "none"},
    }


def _search(space_file: Path, store: PhaseStore, interrupt: bool) -> int | None:
    """Run `raytl search`; with `interrupt`, Ctrl-C it once the first phase is published. Returns the build count
    at the interruption (None if the search finished first)."""
    process = subprocess.Popen([sys.executable, "-c", CLI, "search", str(space_file)])
    interrupted_at = None
    while process.poll() is None:
        if interrupt and interrupted_at is None and store.builds():
            interrupted_at = len(store.builds())
            process.send_signal(signal.SIGINT)
            print(f"search interrupted (SIGINT) after {interrupted_at} intermediate training(s)", flush=True)
        time.sleep(0.5)
    return interrupted_at


def _cli(*command: str) -> None:
    subprocess.run([sys.executable, "-c", CLI, *command], check=True)


def _figure(args: argparse.Namespace, store: PhaseStore, run_dir: Path, interrupted_at: int | None,
            after_run: int) -> str:
    builds = store.builds()
    total, intermediates, trials = len(builds), len(args.intermediates), len(args.target_lrs) * (
        len(args.intermediates) + 1)
    for build in builds:
        print(f"  built {build['phase_id']} ({build['task']}) in trial {build['trial_id']}")
    done = sum(json.loads(path.read_text())["status"] == "completed" for path in run_dir.glob("trials/*/summary.json"))
    how = "not interrupted" if interrupted_at is None else f"interrupted after {interrupted_at} then resumed"
    return (f"phase_reuse: {after_run}/{intermediates} (target: I = {intermediates} intermediate trainings, not "
            f"I x T = {intermediates * len(args.target_lrs)}, for {trials} trials; {how}; resume of the finished "
            f"run: {total - after_run} more; trials completed {done}/{trials})")


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",")]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench phase_reuse", description=__doc__.splitlines()[0])
    parser.add_argument("--intermediates", type=lambda s: s.split(","), default=["mnli", "qqp"], help="I tasks")
    parser.add_argument("--target-lrs", type=_floats, default=[1.0e-3, 3.0e-3], help="T target learning rates")
    parser.add_argument("--targets", type=lambda s: s.split(","), default=["xnli", "pawsx"])
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps of every phase")
    parser.add_argument("--workers", type=int, default=1, help="Ray Train workers per trial")
    parser.add_argument("--no-interrupt", dest="interrupt", action="store_false", help="let the search finish")
    parser.add_argument("--keep", help="run in this directory and keep it (default: a temporary directory)")
    return parser.parse_args(argv)
