"""The intermediate phase: the English intermediate task (or mixture) trained once per phase identity and shared.

The first trial that needs an encoder takes the build lease and publishes it to the phase store; every other trial
(and this one's other ranks, by rank 0's broadcast decision) loads the published directory.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path

from raytl.config import NO_INTERMEDIATE
from raytl.models.task_model import TaskModel, build_encoder
from raytl.pipeline.context import TrialContext, evaluate, make_engine, train_batches
from raytl.pipeline.mixture import MixtureHead, mixture_batches, mixture_loss, sampling_weights
from raytl.pipeline.phase_id import intermediate_phase_id
from raytl.pipeline.store import PhaseStore
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.tasks.labels import with_labels
from raytl.training.loop import fit


def obtain_intermediate(trial: TrialContext, on_step: Callable[[int], None] | None = None) -> Path | None:
    """The published intermediate encoder this trial needs: loaded if another trial built it, else built here."""
    if trial.params.intermediate == NO_INTERMEDIATE:
        return None
    store = trial.run.phase_store()
    phase_id = intermediate_phase_id(trial.space, trial.params)
    asked = time.monotonic()
    while True:
        decision = None
        if trial.ranks.is_main:
            if store.verified(phase_id):
                decision = "load"
            elif store.try_lease(phase_id, owner=trial.trial_id):
                decision = "build"
        decision = trial.ranks.broadcast(decision)
        if decision == "load":
            if trial.ranks.is_main:
                store.record_reuse(phase_id, trial.trial_id, waited_s=time.monotonic() - asked)
            return store.path(phase_id)
        if decision == "build":
            return _build_intermediate(trial, store, phase_id, on_step)
        store.poll_wait()


def _build_intermediate(trial: TrialContext, store: PhaseStore, phase_id: str, on_step: Callable[[int], None] | None
                        ) -> Path:
    name, phase = trial.params.intermediate, trial.space.intermediate
    mixture = trial.space.mixtures.get(name)
    tasks = [with_labels(TASKS[task], trial.space.data) for task in (mixture.tasks if mixture else [name])]
    lease = store.heartbeat(phase_id) if trial.ranks.is_main else contextlib.nullcontext()
    with lease:
        def build() -> TaskModel:
            encoder = build_encoder(trial.entry, trial.tokenizer, trial.params.seed)
            heads = {task.name: FORMATS[task.format].head(encoder.config, task) for task in tasks}
            return TaskModel(encoder, MixtureHead(heads) if mixture else heads[name])

        batches = [train_batches(trial, task, phase) for task in tasks]
        total = phase.max_steps or math.ceil(phase.epochs * sum(b.steps_per_epoch for b in batches))
        engine = make_engine(trial, build, phase, trial.params.lr_intermediate, total)
        if mixture:
            weights = sampling_weights([len(b.lengths) for b in batches], mixture)
            stream = mixture_batches(batches, weights, trial.params.seed)
            loss = mixture_loss([FORMATS[task.format].loss for task in tasks])
        else:
            stream, loss = batches[0].from_step(0), FORMATS[tasks[0].format].loss
        fit(engine, stream, loss, start_step=0, total_steps=total, eval_every=total,
            on_evaluation=lambda step, mean_loss: None, on_step=on_step)
        dev = {}
        for task in tasks:
            if mixture:
                engine.model.head.select(task.name)
            dev[task.name] = evaluate(trial, engine, task, "validation", ["en"], phase)["en"][0]
        write_encoder = engine.submodule_writer("encoder")
        if trial.ranks.is_main:
            meta = {"task": name, "trial_id": trial.trial_id, "steps": total, "dev": dev if mixture else dev[name]}
            store.publish(phase_id, write_encoder, meta)
    trial.ranks.barrier()
    return store.path(phase_id)

