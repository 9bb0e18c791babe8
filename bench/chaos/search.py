"""The chaos benchmark's search: the smallest space that still has every part a fault can hit (an intermediate
phase published to the phase store, target checkpoints, an Optuna study), and the `raytl` processes it runs.

Every `raytl` process starts in a session of its own, so the benchmark can end exactly the processes it started
(the driver and the local Ray it spawned: all share the driver's session id) and nothing else on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import raytl

REPO = Path(raytl.__file__).resolve().parents[1]
INTERMEDIATE_STEPS, TARGET_STEPS, EVAL_EVERY = 8, 12, 4
POINTS = [  # fixed points, one trial at a time: the same trials in every run, so results compare one to one
    {"model": "tiny", "intermediate": "mnli", "lr_intermediate": 2e-3, "lr_target": 2e-3},
    {"model": "tiny", "intermediate": "none", "lr_target": 2e-3},
]


def chaos_space(name: str, storage: str, study_storage: str | None = None) -> dict[str, Any]:
    """Two trials (MNLI then none) of the tiny model on generated data; target checkpoints every 4 steps.

    >>> space = chaos_space("c0", "/tmp/runs")
    >>> space["target"]["eval_every"], len(space["search"]["points_to_evaluate"])
    (4, 2)
    """
    phase = {"lr": {"low": 2e-3, "high": 2e-3}, "batch_size": 16, "max_length": 32}
    return {
        "name": name,
        "storage": storage,
        "models": ["tiny"],
        "intermediate_tasks": ["none", "mnli"],
        "targets": ["xnli"],
        "intermediate": {**phase, "max_steps": INTERMEDIATE_STEPS, "eval_every": INTERMEDIATE_STEPS},
        "target": {**phase, "max_steps": TARGET_STEPS, "eval_every": EVAL_EVERY},
        "data": {"source": "generated", "generated_train_size": 192, "generated_eval_size": 32},
        "resources": {"num_workers": 1, "cpus_per_worker": 1},
        "deepspeed": {"zero_stage": 2},
        "search": {"num_trials": len(POINTS), "max_concurrent_trials": 1, "max_failures": 2, "seed": 0,
                   "points_to_evaluate": POINTS, **({"study_storage": study_storage} if study_storage else {})},
        "scheduler": {"type": "none"},
    }


@dataclass
class Raytl:
    """One `raytl` command running in the background, its output in `log`."""

    argv: list[str]
    log: Path
    env: dict[str, str]
    process: subprocess.Popen = field(init=False)
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        with self.log.open("a") as out:
            out.write(f"$ raytl {' '.join(self.argv)}\n")
            out.flush()
            self.process = subprocess.Popen([sys.executable, "-m", "raytl", *self.argv], stdout=out,
                                            stderr=subprocess.STDOUT, env=self.env, cwd=REPO,
                                            start_new_session=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float) -> int:
        """The exit status; a command still running after `timeout` is killed (with its Ray) and counts as 124."""
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return 124
        end_session(self.process.pid, grace=0.5)  # what its Ray left running, if anything
        return status

    def kill(self) -> None:
        """SIGKILL the driver, then every process of its session (the local Ray it started), like a lost head."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        end_session(self.process.pid)

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def session_pids(sid: int) -> list[int]:
    """The live processes of session `sid` (the benchmark's own `raytl` process and what it spawned)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == sid:
                    found.append(int(entry.name))
    return found


def end_session(sid: int, grace: float = 2.0) -> None:
    """SIGKILL what is left of session `sid` (Ray's processes outlive a killed driver for a moment)."""
    time.sleep(grace)
    for _ in range(20):
        pids = session_pids(sid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def command_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every `raytl` process: this checkout's raytl first, Ray's temp dir as the caller set it
    (RAY_TMPDIR, so its sessions stay apart from other users'), and no RAY_ADDRESS unless a fault sets one."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **(extra or {})}


def write_space(directory: Path, space: dict[str, Any]) -> Path:
    path = directory / f"{space['name']}.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def summaries(run: Path) -> dict[str, dict[str, Any]]:
    """trial id -> its summary.json, skipping one being replaced this instant."""
    found = {}
    for path in run.glob("trials/*/summary.json"):
        with contextlib.suppress(OSError, ValueError):
            found[path.parent.name] = json.loads(path.read_text())
    return found
