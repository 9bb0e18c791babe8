"""`raytl store ls|gc`: what the phase store of a run holds, who uses it, and what can go.

A trial *references* the intermediate phase `intermediate_phase_id(space, params)` of its parameters (from its
`trials/<id>/summary.json`, or from Tune's trial config before it wrote one). A trial is *live* while Tune has not
finished it (pending, running, paused, or errored and so resumable by `raytl resume`), or when Tune has no record
of it. gc keeps every phase a live trial references, the phases of the best trial of every target and of the
best objective, phases younger than `min_age_s` (a trial may have just published or just be loading one) and
phases with a lease (being built). It removes the other phases, quarantined `.corrupt-*` copies, stale `.tmp-*`
directories and broken leases. Checkpoints: a finished trial (Tune: TERMINATED, summary: completed) keeps only
`progress.json` in its Ray Train checkpoints, which is all a resumed search reads for it (it reports its final
metrics and trains nothing); its `best/` weights, which `raytl export` reads, stay.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytl.config import load_space
from raytl.pipeline import storage
from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.store import MANIFEST, RECORDS, sha256_file

FINISHED = "TERMINATED"  # Tune's status of a trial that ended (completed, or stopped by the scheduler)
KEEP_IN_CHECKPOINT = "progress.json"


@dataclass
class Trial:
    """One trial as the run directory records it."""

    trial_id: str
    params: dict[str, Any] | None  # TrialParams fields; None when unknown
    tune_status: str | None = None
    status: str | None = None  # summary.json's status
    objective: float = math.nan
    scores: dict[str, float] = field(default_factory=dict)  # per target, the dev selection score

    @property
    def live(self) -> bool:
        return self.tune_status != FINISHED

    @property
    def finished(self) -> bool:
        return self.tune_status == FINISHED and self.status == "completed"


@dataclass(frozen=True)
class Phase:
    """One published (or quarantined/half-written) entry of the phase store."""

    name: str
    location: str  # path or URI
    mtime: float
    phase_id: str
    task: str
    size: int
    checksum: str  # ok | corrupt: <file> | no manifest
    trials: tuple[str, ...]
    models: tuple[str, ...]
    builder: str = ""  # the trial that trained it (manifest)
    ids_changed: bool = False  # its builder's parameters now hash to another id: the code changed since the run


def tune_trials(run: RunDir) -> dict[str, tuple[str, dict[str, Any]]]:
    """trial id -> (status, config) from Tune's newest experiment state of every experiment under `tune/`.
    Only plain JSON fields are read (nothing is unpickled)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    states: dict[Path, Path] = {}
    for path in sorted(run.tune.rglob("experiment_state-*.json")) if run.tune.is_dir() else []:
        states[path.parent] = path  # names sort by time: the last one per experiment is the newest
    for path in states.values():
        for item in json.loads(path.read_text()).get("trial_data", []):
            trial = json.loads(item[0])
            config = trial.get("config")
            found[trial["trial_id"]] = (trial.get("status", ""), config if isinstance(config, dict) else {})
    return found


def trials(run: RunDir) -> dict[str, Trial]:
    """Every trial of the run, from its summary and Tune's state."""
    out: dict[str, Trial] = {}
    for summary in sorted((run.root / "trials").glob("*/summary.json")):
        data = json.loads(summary.read_text())
        scores = {t: v["dev"] for t, v in data.get("targets", {}).items() if _finite(v.get("dev"))}
        out[data["trial_id"]] = Trial(data["trial_id"], data.get("config"), status=data.get("status"),
                                      objective=data.get("objective", math.nan), scores=scores)
    for trial_id, (status, config) in tune_trials(run).items():
        trial = out.setdefault(trial_id, Trial(trial_id, _params_from_tune(config)))
        trial.tune_status = status
    return out


def references(run: RunDir, all_trials: Iterable[Trial]) -> dict[str, list[str]]:
    """phase id -> trial ids whose parameters train (or load) that intermediate phase."""
    from raytl.config import NO_INTERMEDIATE
    from raytl.pipeline.phase_id import TrialParams, intermediate_phase_id

    space = load_space(run.space)
    out: dict[str, list[str]] = {}
    for trial in all_trials:
        if trial.params and trial.params.get("intermediate") != NO_INTERMEDIATE:
            phase_id = intermediate_phase_id(space, TrialParams(**trial.params))
            out.setdefault(phase_id, []).append(trial.trial_id)
    return out


def best_trials(all_trials: Iterable[Trial]) -> set[str]:
    """The best trial of every target (by its dev selection score) and the best objective."""
    all_trials = list(all_trials)
    best: set[str] = set()
    for target in {t for trial in all_trials for t in trial.scores}:
        best.add(max((t for t in all_trials if target in t.scores), key=lambda t: t.scores[target]).trial_id)
    scored = [t for t in all_trials if _finite(t.objective)]
    if scored:
        best.add(max(scored, key=lambda t: t.objective).trial_id)
    return best


def inventory(run: RunDir) -> tuple[list[Phase], dict[str, Trial]]:
    """Every entry of `phases/` with its checksum status and the trials referencing it (read-only)."""
    all_trials = trials(run)
    refs = references(run, all_trials.values())
    referenced_by = {trial: phase_id for phase_id, users in refs.items() for trial in users}
    store = run.phase_store()
    builders = {b["phase_id"]: b.get("trial_id", "") for b in store.builds()}
    phases = []
    for child in storage.children(run.phases_location):
        if not child.is_dir or child.name in RECORDS:
            continue
        location, phase_id = store.uri(child.name), _phase_id(child.name)
        manifest = _manifest(location)
        users, builder = tuple(refs.get(phase_id, ())), manifest.get("trial_id") or builders.get(phase_id, "")
        models = {all_trials[t].params["model"] for t in (*users, builder) if t in all_trials and all_trials[t].params}
        changed = builder in referenced_by and referenced_by[builder] != phase_id
        checksum = _checksum(location, manifest, deep=not store.remote)
        phases.append(Phase(child.name, location, child.mtime, phase_id, manifest.get("task", "?"), child.size,
                            checksum, users, tuple(sorted(models)), builder, changed))
    return phases, all_trials


@dataclass(frozen=True)
class Removal:
    location: str  # path or URI
    reason: str
    size: int


def plan_gc(run: RunDir, min_age_s: float = 3600.0, now: float | None = None) -> tuple[list[Removal], list[str]]:
    """(what gc removes, why each remaining phase stays)."""
    now = time.time() if now is None else now
    phases, all_trials = inventory(run)
    keepers = best_trials(all_trials.values()) | {t.trial_id for t in all_trials.values() if t.live}
    unknown = [t.trial_id for t in all_trials.values() if t.live and not t.params]
    removals, kept = [], []
    for phase in phases:
        reason = _keep_reason(run, phase, keepers, unknown, now - phase.mtime, min_age_s)
        if reason:
            kept.append(f"{phase.phase_id}: {reason}")
        else:
            removals.append(Removal(phase.location, _removal_reason(phase.name), phase.size))
    store = run.phase_store()
    removals += [Removal(store.uri(c.name), "broken lease", 0) for c in storage.children(store.location)
                 if c.name.startswith(".broken-")]
    removals += _checkpoint_shards(run, all_trials.values())
    return removals, kept


def apply(removals: Iterable[Removal]) -> int:
    """Delete; returns the bytes freed."""
    freed = 0
    for removal in removals:
        storage.delete(removal.location)
        freed += removal.size
    return freed


def human(size: float) -> str:
    """>>> human(3 * 2**30)
    '3.0 GiB'"""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _keep_reason(run: RunDir, phase: Phase, keepers: set[str], unknown: list[str], age: float, min_age: float) -> str:
    name = phase.name
    if name.startswith(".corrupt-"):
        return ""
    if age < min_age:
        return f"younger than {min_age:g} s"
    if name.startswith(".tmp-"):
        return ""
    if storage.exists(run.phase_store().lease_location(phase.phase_id)):
        return "being built (lease)"
    if phase.ids_changed:
        return f"phase ids changed since trial {phase.builder} built it (code or space changed): kept to be safe"
    users = sorted((set(phase.trials) | {phase.builder}) & keepers)
    if users:
        return "used by " + ", ".join(users)
    if unknown:
        return f"live trials with unknown parameters: {', '.join(unknown)}"
    return ""


def _removal_reason(name: str) -> str:
    if name.startswith(".corrupt-"):
        return "quarantined (failed its checksums)"
    return "stale temporary directory" if name.startswith(".tmp-") else "referenced by no live or best trial"


def _checkpoint_shards(run: RunDir, all_trials: Iterable[Trial]) -> list[Removal]:
    out = []
    for trial in all_trials:
        if not trial.finished:
            continue
        trial_train = run.uri(run.train / trial.trial_id)
        for checkpoint in storage.children(trial_train):
            if not (checkpoint.is_dir and checkpoint.name.startswith("checkpoint_")):
                continue
            for item in storage.children(storage.join(trial_train, checkpoint.name)):
                if item.name != KEEP_IN_CHECKPOINT:
                    out.append(Removal(storage.join(trial_train, checkpoint.name, item.name),
                                       f"checkpoint of finished trial {trial.trial_id}", item.size))
    return out


def _params_from_tune(config: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return {"model": config["model"], "intermediate": config["intermediate"],
                "lr_intermediate": config.get("lr_intermediate", 0.0), "lr_target": config["lr_target"],
                "seed": config["seed"]}
    except KeyError:
        return None


def _phase_id(name: str) -> str:
    if name.startswith((".tmp-", ".corrupt-")):
        return name.split("-", 1)[1].rsplit("-", 1)[0]
    return name


def _manifest(location: str) -> dict[str, Any]:
    try:
        return json.loads(storage.read_bytes(storage.join(location, MANIFEST)))
    except (OSError, ValueError):
        return {}


def _checksum(location: str, manifest: dict[str, Any], deep: bool) -> str:
    """"ok" or the first bad file. `deep`: hash every file (local stores); else compare sizes (object stores, where
    hashing means downloading; every trial hashes what it downloads before loading it)."""
    files, sizes = manifest.get("files"), manifest.get("sizes", {})
    if not isinstance(files, dict):
        return "no manifest"
    present = {c.name: c.size for c in storage.children(location) if not c.is_dir}
    for name, digest in files.items():
        if name not in present:
            return f"corrupt: {name}"
        if deep and sha256_file(Path(location) / name) != digest:
            return f"corrupt: {name}"
        if not deep and name in sizes and sizes[name] != present[name]:
            return f"corrupt: {name}"
    return "ok" if deep else "ok (sizes)"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
