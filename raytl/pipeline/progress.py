"""Where a trial is, and the one owner of it: `TrialRecord` keeps a trial's `Progress`, reports it to Tune and writes
its `summary.json` (the contract `raytl report` reads, see raytl/report/results.py). Phases tell the record what
happened; nothing else mutates progress or writes a summary (`mark_status` is the driver's one correction: a
trial the scheduler stopped).

What Tune sees (`trial_metrics`) holds dev scores only, so no test score can reach the scheduler or the searcher.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from raytl.config import SearchSpace
from raytl.pipeline.context import TrialContext
from raytl.pipeline.run_dir import RunDir
from raytl.tasks import TASKS

Languages = dict[str, dict[str, float]]
Send = Callable[[dict[str, Any], Path | None], None]  # (metrics, checkpoint directory): ray.train.report


@dataclass
class TargetResult:
    """One target of a trial: the dev-selected checkpoint (its selection score, step and per-language dev
    metrics) and, once the target is finished, that checkpoint's test task score and per-language test metrics,
    which are reported and never compared."""

    dev: float = -math.inf
    step: int = 0
    dev_languages: Languages = field(default_factory=dict)
    score: float = math.nan
    languages: Languages = field(default_factory=dict)


@dataclass
class Progress:
    """Finished targets, and the current target's step and best evaluation so far. Saved beside every checkpoint
    as `progress.json`, so a resumed trial knows where to continue before it builds anything."""

    completed: dict[str, TargetResult] = field(default_factory=dict)
    target: str = ""
    step: int = 0
    best: TargetResult = field(default_factory=TargetResult)
    steps_before: int = 0  # target-phase steps of the finished targets: the search's time axis

    FILE = "progress.json"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, directory: Path) -> Progress:
        data = json.loads((directory / cls.FILE).read_text())
        return cls(
            completed={name: TargetResult(**result) for name, result in data["completed"].items()},
            target=data["target"],
            step=data["step"],
            best=TargetResult(**data["best"]),
            steps_before=data["steps_before"],
        )

    def results(self) -> dict[str, TargetResult]:
        """The finished targets and the current target's best evaluation so far."""
        results = dict(self.completed)
        if self.target and self.target not in results and self.best.dev_languages:
            results[self.target] = self.best
        return results


class TrialRecord:
    """A trial's progress on one worker: created from the checkpoint the trial resumes from (or none), told by the
    phases what happened, and the only writer of the trial's summary (on the main rank)."""

    def __init__(self, trial: TrialContext, send: Send, checkpoint: Path | None) -> None:
        self.trial, self.send, self.checkpoint = trial, send, checkpoint
        self.started, self.first_step_at = time.time(), None
        self.progress = Progress.load(checkpoint) if checkpoint else Progress()
        earlier = (trial.run.read_json(trial.run.summary(trial.trial_id)) or {}).get("resumed_at", [])
        self.resumed_at = [*earlier, self.metrics()["step"]] if checkpoint else []

    def pending(self) -> list[str]:
        """The targets still to run, in the space's order."""
        return [target for target in self.trial.space.targets if target not in self.progress.completed]

    def resume_from(self, target: str) -> Path | None:
        """The checkpoint to continue `target` from, when the trial stopped in the middle of it."""
        return self.checkpoint if self.progress.target == target and self.checkpoint is not None else None

    @property
    def best(self) -> TargetResult:
        """The current target's best evaluation so far (read it; the record changes it)."""
        return self.progress.best

    @property
    def step(self) -> int:
        """The current target's last evaluated step: where a resumed phase continues."""
        return self.progress.step

    def start_target(self, target: str) -> None:
        self.progress.target, self.progress.step, self.progress.best = target, 0, TargetResult()

    def evaluated(self, step: int, dev: float, dev_languages: Languages) -> bool:
        """One dev evaluation of the current target; True when it is the best so far (select these weights)."""
        self.progress.step = step
        if not dev > self.progress.best.dev:
            return False
        self.progress.best = TargetResult(dev=dev, step=step, dev_languages=dev_languages)
        return True

    def finish_target(self, target: str, result: TargetResult, steps: int) -> None:
        """`target` is done: its dev selection and its test scores (reported only)."""
        self.progress.completed[target] = result
        self.progress.steps_before += steps

    def first_step(self, step: int) -> None:
        """`fit`'s `on_step`: remembers when this worker's first optimizer step ended (the trial's start-up)."""
        if self.first_step_at is None:
            self.first_step_at = time.time()

    def checkpoint_files(self) -> dict[str, str]:
        """What a checkpoint carries of the trial besides the engine's state."""
        return {Progress.FILE: self.progress.to_json()}

    def report(self, extra: dict[str, Any], checkpoint: Path | None = None, status: str | None = None,
               note: str = "") -> None:
        """Write the summary (main rank) and report the dev metrics, with a checkpoint directory, to Tune."""
        metrics = {**self.metrics(), **extra, **({"status": status} if status else {})}
        if self.trial.ranks.is_main:
            self.write_summary(metrics["status"], note)
        self.send(metrics, checkpoint)

    def finish(self, status: str, note: str) -> None:
        """The trial ends early (diverged): its summary says why and Tune sees no objective."""
        self.report({"objective": math.nan}, status=status, note=note)

    def metrics(self) -> dict[str, Any]:
        return trial_metrics(self.trial.space, self.progress)

    def write_summary(self, status: str, note: str = "") -> None:
        """`RUN_DIR/trials/<id>/summary.json`. Per target: `dev` (the selection score, under the `selection`
        protocol, with `dev_languages` and the `selected_step`) and `score`/`languages` (test, for the selected
        checkpoint; NaN until the target is finished). `resumed_at`: the steps the trial restarted from
        checkpoints; `startup`: this attempt's start and first optimizer step on the main worker."""
        trial, metrics = self.trial, self.metrics()
        trial.run.write_json(trial.run.summary(trial.trial_id), {
            "trial_id": trial.trial_id,
            "status": status,
            "note": note,
            "resumed_at": self.resumed_at,
            "startup": self.startup(),
            "config": asdict(trial.params),
            "model_params": trial.entry.params,
            "intermediate_group": intermediate_group(trial.space, trial.params.intermediate),
            "selection": trial.space.selection,
            "step": metrics["step"],
            "target": metrics["target"],
            "target_step": metrics["target_step"],
            "objective": metrics["objective"],
            "targets": {
                target: {"dev": r.dev, "selected_step": r.step, "dev_languages": r.dev_languages,
                         "score": r.score, "metric": TASKS[target].metric, "languages": r.languages}
                for target, r in self.progress.results().items()
            },
        })

    def startup(self) -> dict[str, float]:
        """When this attempt's worker function began and its first optimizer step ended (`time.time()`,
        comparable with other processes' on the same machine), and the seconds between."""
        if self.first_step_at is None:
            return {"worker_started_at": self.started}
        return {"worker_started_at": self.started, "first_step_at": self.first_step_at,
                "first_step_s": round(self.first_step_at - self.started, 3)}


def trial_metrics(space: SearchSpace, progress: Progress) -> dict[str, Any]:
    """What Tune sees, and so the scheduler and the searcher: the objective (the mean dev selection score of the
    targets evaluated so far), the step (the scheduler's time axis: target-phase steps summed over the targets),
    the current target and its own step (what the console's progress line shows) and each target's dev score.
    Never a test score: those go to the summary only."""
    results = progress.results()
    metrics: dict[str, Any] = {
        "step": progress.steps_before + (0 if progress.target in progress.completed else progress.step),
        "objective": sum(r.dev for r in results.values()) / len(results) if results else math.nan,
        "status": "completed" if len(progress.completed) == len(space.targets) else "running",
        "targets_done": len(progress.completed),
        "target": progress.target,
        "target_step": progress.step,
    }
    metrics.update({f"dev:{target}": result.dev for target, result in results.items()})
    return metrics


def finished_metrics(space: SearchSpace, summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """The metrics a trial reported at its end, as its summary recorded them once every target was finished and
    test-scored; None for a trial that has not finished. What a restarted trial reports instead of training again:
    a trial that ended in the seconds before a crash (or a full disk) that kept Tune from recording it."""
    if not summary or summary.get("status") != "completed" or set(summary["targets"]) != set(space.targets):
        return None
    targets = summary["targets"]
    return {"step": summary["step"], "objective": summary["objective"], "status": "completed",
            "targets_done": len(targets), "target": summary.get("target", space.targets[-1]),
            "target_step": summary.get("target_step", 0),
            **{f"dev:{target}": targets[target]["dev"] for target in space.targets}}


def intermediate_group(space: SearchSpace, name: str) -> str:
    """The complexity group reports use: the task's, "mixture" for a mixture, "baseline" for none."""
    if name in space.mixtures:
        return "mixture"
    return TASKS[name].group if name in TASKS else "baseline"


def mark_status(run: RunDir, trial_id: str, status: str) -> None:
    """The driver's correction of a summary: a trial that ended without finishing (the scheduler stopped it) or
    errored. Only a `running` or `completed` summary is overwritten, never a diverged one."""
    summary = run.read_json(run.summary(trial_id))
    if summary is not None and summary["status"] != status and summary["status"] in ("running", "completed"):
        run.write_json(run.summary(trial_id), {**summary, "status": status})
