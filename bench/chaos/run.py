"""One chaos run: the search started, one fault injected at a seeded random moment, the run recovered the
documented way, and the outcome compared with the uninterrupted reference run."""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.chaos import environments
from bench.chaos.faults import Fault, Strike
from bench.chaos.integrity import scan
from bench.chaos.outcome import Cost, Snapshot, cost, differences, results
from bench.chaos.search import Raytl, chaos_space, command_env, write_space

SEARCH_TIMEOUT_S, RESUME_TIMEOUT_S = 900, 900


@dataclass
class Reference:
    results: dict[str, dict[str, Any]]
    seconds: float
    run_bytes: int


@dataclass
class Outcome:
    fault: str
    at_s: float  # seconds after `raytl search` started that the fault struck
    injected: bool
    recovered: bool
    commands: list[str]  # what ran, with exit statuses
    cost: Cost | None = None
    mismatches: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    checked: int = 0
    notes: dict[str, Any] = field(default_factory=dict)
    message: str = ""  # the last line a failed command printed (what a user reads)


def reference(work: Path) -> Reference:
    """The search without faults: its results, how long it took and how much it wrote."""
    run_parent = work / "runs"
    work.mkdir(parents=True)
    space = write_space(work, chaos_space("reference", str(run_parent)))
    search = Raytl(["search", str(space)], work / "reference.log", command_env())
    status = search.wait(SEARCH_TIMEOUT_S)
    if status != 0:
        raise SystemExit(f"chaos: the reference search failed (exit {status}); see {search.log}:\n{search.tail()}")
    run = run_parent / "reference"
    size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
    return Reference(results(run), search.elapsed(), size)


def run_fault(fault: Fault, index: int, seed: int, ref: Reference, work: Path) -> Outcome:
    """Fault number `index` of kind `fault`; its moment and choices come from `random.Random((seed, index))`."""
    rng = random.Random(f"{seed}-{index}")
    at = rng.uniform(0.1, 0.9) * ref.seconds
    home = work / f"{index:02d}-{fault.name}"
    home.mkdir(parents=True)
    name = f"chaos{index:02d}"
    with fault.place(home, rng, ref.run_bytes) as place:
        space = write_space(home, chaos_space(name, place.storage, place.study_storage))
        log, env = home / "raytl.log", command_env(place.env)
        search = Raytl(["search", str(space)], log, env)
        strike = Strike(search, place, place.local / name, rng, {})
        while search.running() and not (search.elapsed() >= at and fault.ready(strike)):
            time.sleep(0.1)
        outcome = Outcome(fault.name, round(search.elapsed(), 1), injected=search.running(), recovered=False,
                          commands=[])
        before = Snapshot.take(strike.run)
        if outcome.injected:
            fault.inject(strike)
        outcome.notes = strike.notes
        status = search.wait(SEARCH_TIMEOUT_S)
        outcome.commands.append(f"search {status if search.process.returncode is not None else 'killed'}")
        if status != 0 or not _all_completed(results(strike.run), ref):  # failed trials: resume retries them
            outcome.message = _last_error(search)
            fault.heal(strike)
            resume = Raytl(["resume", _run_location(place, name)], log, env)
            status = resume.wait(RESUME_TIMEOUT_S)
            outcome.commands.append(f"resume {status}")
            if status != 0:
                outcome.message = _last_error(resume)
        got = results(strike.run)
        outcome.recovered = status == 0 and _all_completed(got, ref)
        outcome.cost = cost(before, strike.run)
        outcome.mismatches = differences(ref.results, got)
        outcome.corrupt, outcome.checked = _integrity(place, name, home)
    return outcome


def _all_completed(got: dict[str, dict[str, Any]], ref: Reference) -> bool:
    return got.keys() == ref.results.keys() and all(r["status"] == "completed" for r in got.values())


def _run_location(place: environments.Place, name: str) -> str:
    if "://" not in place.storage:
        return str(Path(place.storage) / name)
    base, _, query = place.storage.partition("?")
    return f"{base}/{name}?{query}"


def _integrity(place: environments.Place, name: str, home: Path) -> tuple[list[str], int]:
    if "://" not in place.storage:
        return scan(place.local / name)
    copy = environments.download(_run_location(place, name), home / "downloaded")
    try:
        return scan(copy)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _last_error(command: Raytl) -> str:
    lines = [line for line in command.log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or [""])[-1][:300]
