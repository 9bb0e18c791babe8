"""What a fault cost: finished trials run again, target steps lost, results against the uninterrupted reference.

A trial is known by its configuration (trial ids differ between runs). Read from the run's own records only:
each trial's `summary.json` (`step`, `resumed_at`, `startup`, results) and the phase store's build records.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.chaos.search import summaries


def config_key(summary: dict[str, Any]) -> str:
    """A trial's identity across runs.

    >>> config_key({"config": {"model": "tiny", "intermediate": "none", "lr_target": 0.002, "seed": 0}})
    'tiny/none/lr_i=-/lr_t=0.002/seed=0'
    """
    config = summary["config"]
    lr_i = config.get("lr_intermediate") or "-"
    return f"{config['model']}/{config['intermediate']}/lr_i={lr_i}/lr_t={config['lr_target']}/seed={config['seed']}"


def results(run: Path) -> dict[str, dict[str, Any]]:
    """config -> what a finished trial reports: status, objective, per target dev, selected step, test scores."""
    found = {}
    for summary in summaries(run).values():
        found[config_key(summary)] = {
            "status": summary["status"], "objective": summary["objective"],
            "targets": {name: {key: target[key] for key in ("dev", "selected_step", "score", "languages")}
                        for name, target in summary["targets"].items()}}
    return found


@dataclass(frozen=True)
class Snapshot:
    """The run just before the fault: per trial id, its status, reported step and attempt start time."""

    trials: dict[str, dict[str, Any]]
    builds: int
    building: bool  # an intermediate phase was being trained (its lease held, nothing published yet)

    @classmethod
    def take(cls, run: Path) -> Snapshot:
        trials = {trial_id: {"status": s["status"], "step": s["step"], "resumed_at": list(s["resumed_at"]),
                             "started": s["startup"]["worker_started_at"]} for trial_id, s in summaries(run).items()}
        phases = run / "phases"
        leases = list(phases.glob("*.lease")) if phases.is_dir() else []
        building = any(not (phases / lease.name.removesuffix(".lease") / "manifest.json").is_file()
                       for lease in leases)
        return cls(trials, len(build_records(run)), building)


def build_records(run: Path) -> list[dict[str, Any]]:
    """The phase store's build records that read back (a damaged one is the integrity scan's to report)."""
    records = []
    for path in sorted((run / "phases" / "builds").glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            records.append(json.loads(path.read_text()))
    return records


@dataclass(frozen=True)
class Cost:
    rerun: list[str]  # trials completed before the fault that trained again
    steps_lost: int  # target steps reported before the fault and trained again
    intermediate_restarted: bool  # the fault hit an intermediate build (not checkpointed: the phase starts over)
    rebuilds: int  # phase builds beyond one per phase


def cost(before: Snapshot, run: Path) -> Cost:
    """Compare the run after recovery with its snapshot from just before the fault."""
    after = summaries(run)
    rerun, lost = [], 0
    for trial_id, was in before.trials.items():
        now = after.get(trial_id)
        if now is None:
            continue
        new_starts = now["resumed_at"][len(was["resumed_at"]):]
        restarted = now["startup"]["worker_started_at"] != was["started"]
        if was["status"] == "completed":
            if restarted and any(step < was["step"] for step in new_starts) or restarted and not new_starts:
                rerun.append(trial_id)
            continue
        if new_starts:
            lost = max(lost, was["step"] - min(new_starts))
        elif restarted:
            lost = max(lost, was["step"])
    phases = [b["phase_id"] for b in build_records(run)]
    return Cost(rerun, lost, before.building, len(phases) - len(set(phases)))


def differences(reference: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> list[str]:
    """Where the recovered run's results differ from the reference's (same trials, same numbers)."""
    found = [f"missing {key}" for key in reference if key not in got]
    found += [f"extra {key}" for key in got if key not in reference]
    for key in reference.keys() & got.keys():
        if not _same(reference[key], got[key]):
            found.append(f"{key}: {json.dumps(got[key], sort_keys=True)[:200]} != reference")
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
