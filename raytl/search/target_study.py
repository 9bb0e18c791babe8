"""One target's study in a per-target run: its space (only that target, its overrides folded in) and its run
directory, RUN_DIR/targets/TARGET/, which uses the run's phase store."""

from __future__ import annotations

import yaml

from raytl.config import SearchSpace
from raytl.pipeline.run_dir import RunDir
from raytl.pipeline.storage import join


def target_run(run: RunDir, target: str) -> RunDir:
    return RunDir(join(str(run.location), "targets", target), store_of=run)


def target_space(space: SearchSpace, target: str) -> SearchSpace:
    """The study of one target: only that target, its overrides folded into the target phase."""
    return space.model_copy(update={
        "name": f"{space.name}.{target}", "targets": [target], "target": space.target_phase(target),
        "target_overrides": {},
    })


def prepare(space: SearchSpace, run: RunDir, target: str) -> tuple[SearchSpace, RunDir]:
    """The target's space and run directory, which uses the run's phase store (`store_of`)."""
    sub, sub_run = target_space(space, target), target_run(run, target)
    sub_run.root.mkdir(parents=True, exist_ok=True)
    if not sub_run.exists(sub_run.space):
        sub_run.write_text(sub_run.space, yaml.safe_dump(sub.model_dump(mode="json"), sort_keys=False))
    return sub, sub_run
