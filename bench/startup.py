"""Trial start-up: seconds from a Tune trial's start to its first training step, raytl against a bare TorchTrainer.

`python -m bench startup [--repeats 3] [--workers 2] [--cpus-per-worker 1] [--train-size 2048] [--no-breakdown]`

Every measured trial is a one-trial `tune.Tuner` on one local Ray, started as raytl's `start_ray` does (trial
drivers on raytl's small custom resource). Its trainable is `timed_trial`, which writes `time.time()` first
("trial start") and then calls the trial function it was given:

- bare: a function that starts a `TorchTrainer` with raytl's worker count and resources (default the quickstart's
  2 workers x 1 CPU) whose `train_loop_per_worker` only writes `time.time()`: first step = the last worker's entry;
- raytl: raytl's own trial function (`raytl.search.trial_driver.drive_trial`, what `build_tuner`'s trainable runs)
  on a quickstart-shaped space (tiny model, generated data, ZeRO-2, batch 32 x 64 tokens, 2048 train rows),
  baseline trial (no intermediate phase) on XNLI, one target step: first step = the end of its first optimizer
  step, as its worker writes it into the trial's summary.json (`startup.first_step_at`, rank 0).

raytl caches tokenised data on disk (RAYTL_CACHE_DIR, a private directory here): a *cold* trial starts with that
cache emptied, the *warm* one right after it reads what the cold one wrote. A search's trials after the first
see the cache warm, so the figure is warm raytl / bare. Each repeat runs bare, raytl cold, raytl warm, bare, and
divides by the mean of its two bare trials (load on this shared machine moves); printed as min/median. One
untimed bare and raytl trial run first (module files into the page cache; DeepSpeed's one-off op build).

Breakdown (not `--no-breakdown`): per repeat, two more trials (cold, warm) whose workers run raytl's start-up
steps one by one with raytl's own functions, stamping each: worker process created, worker function entered
(Ray Train's worker group up), imports (datasets, transformers, deepspeed, raytl's rest), the tiny model's
tokenizer (trained in-process for `tiny`), the target's training rows (loaded + tokenised, or read from the
cache), the model build, the DeepSpeed engine, the first optimizer step. Seeds are fixed (trial seed 0,
generated data seed from raytl).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# the same Ray modules raytl's trial function imports before it starts (and nothing of raytl: a bare worker
# unpickling a function of this module must not import raytl)
import ray.train
from ray import tune
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

TARGET = "xnli"
POINT = {"model": "tiny", "intermediate": "none", "lr_target": 2.0e-3, "seed": 0}
BREAKDOWN = ("process created", "worker entered", "import datasets", "import transformers", "import deepspeed",
             "import raytl", "tokenizer", "training rows", "model built", "DeepSpeed engine", "first step")


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--repeats", "1", "--train-size", "256", "--no-warmup"])  # doctest: +SKIP
    """
    args = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        os.environ["RAYTL_CACHE_DIR"] = str(root / "cache")  # before Ray starts: its workers inherit it
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no per-experiment boxes from Tune (verbose=0 is silent)
        space = _space(args, root)
        _start_ray(space)
        print(f"{args.workers} workers x {args.cpus_per_worker:g} CPU, tiny model, {TARGET} {args.train_size} "
              f"generated train rows, batch {args.batch} x {args.max_length} tokens, ZeRO-2; {args.repeats} repeats",
              flush=True)
        bench = _Bench(args, space, root)
        if args.warmup:
            bench.bare()
            bench.raytl(cold=False)
            print("warm-up trials done (not timed)", flush=True)
        trials: dict[str, list[dict[str, float]]] = {"bare": [], "cold": [], "warm": []}
        ratios: dict[str, list[float]] = {"cold": [], "warm": []}
        parts: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
        for repeat in range(args.repeats):
            before, cold, warm, after = bench.bare(), bench.raytl(cold=True), bench.raytl(cold=False), bench.bare()
            bare = (before["first step"] + after["first step"]) / 2
            trials["bare"] += [before, after]
            for kind, trial in (("cold", cold), ("warm", warm)):
                trials[kind].append(trial)
                ratios[kind].append(trial["first step"] / bare)
            print(f"repeat {repeat}: seconds from trial start to first step: bare {before['first step']:.2f} and "
                  f"{after['first step']:.2f}; raytl cold {cold['first step']:.2f} ({ratios['cold'][-1]:.2f}x), "
                  f"warm {warm['first step']:.2f} ({ratios['warm'][-1]:.2f}x)", flush=True)
            if args.breakdown:
                for kind in ("cold", "warm"):
                    parts[kind].append(bench.breakdown(cold=kind == "cold"))
        _print_trials(trials)
        _print_breakdown(parts)
        print(_figure(trials, ratios))


class _Bench:
    """Runs the measured trials of one benchmark: each a fresh one-trial Tuner, its files in `root`."""

    def __init__(self, args: argparse.Namespace, space: Any, root: Path) -> None:
        self.args, self.space, self.root, self.count = args, space, root, 0

    def bare(self) -> dict[str, float]:
        """A bare TorchTrainer trial: seconds from its start to the last worker's entry ("first step", the same as
        "worker entered"), and from its Tune actor's process creation to its start ("actor")."""
        out = self._out("bare")
        self._run(bare_trial, out, {"workers": self.args.workers, "cpus": self.args.cpus_per_worker,
                                    "storage": str(self.root / "bare-train"), "out": str(out)})
        entered = max(float(path.read_text()) for path in out.glob("worker-*")) - _stamp(out, "trial_started_at")
        return {"first step": entered, "worker entered": entered, "actor": _actor(out)}

    def raytl(self, cold: bool) -> dict[str, float]:
        """A raytl trial (its real trial function): seconds from its start to the end of its first optimizer step
        and to its worker function's entry (rank 0's, from its summary.json), and the actor's as for `bare`."""
        from raytl.search.trial_driver import drive_trial

        if cold:
            shutil.rmtree(self.root / "cache", ignore_errors=True)
        out = self._out("raytl")
        run_dir = out / "run"
        self._run(drive_trial, out, trial_constants(drive_trial, self.space, run_dir))
        (summary,) = run_dir.glob("trials/*/summary.json")
        stamps, start = json.loads(summary.read_text())["startup"], _stamp(out, "trial_started_at")
        return {"first step": stamps["first_step_at"] - start, "worker entered": stamps["worker_started_at"] - start,
                "actor": _actor(out)}

    def breakdown(self, cold: bool) -> dict[str, float]:
        """Seconds from trial start to each of `BREAKDOWN`'s stamps (rank 0), in a stamped copy of raytl's start-up."""
        from raytl.search.trial_driver import trial_params

        if cold:
            shutil.rmtree(self.root / "cache", ignore_errors=True)
        out = self._out("breakdown")
        self._run(breakdown_trial, out, {"space": self.space, "params": trial_params(POINT), "out": str(out),
                                         "run_dir": str(out / "run"), "workers": self.args.workers,
                                         "cpus": self.args.cpus_per_worker})
        stamps, start = json.loads((out / "rank-0.json").read_text()), _stamp(out, "trial_started_at")
        return {name: stamps[name] - start for name in BREAKDOWN}

    def _out(self, label: str) -> Path:
        self.count += 1
        out = self.root / "trials" / f"{label}-{self.count}"
        out.mkdir(parents=True)
        return out

    def _run(self, trial: Callable[..., None], out: Path, kwargs: dict[str, Any]) -> None:
        from raytl.search.trial_driver import DRIVER_RESOURCE

        trainable = tune.with_resources(tune.with_parameters(timed_trial, trial=trial, out=str(out), kwargs=kwargs),
                                        {DRIVER_RESOURCE: 1})
        grid = tune.Tuner(trainable, param_space=POINT, tune_config=tune.TuneConfig(num_samples=1),
                          run_config=tune.RunConfig(name=out.name, storage_path=str(self.root / "tune"), verbose=0)
                          ).fit()
        if grid.errors:
            raise RuntimeError(f"trial {out.name} failed: {grid.errors[0]}")


def trial_constants(drive_trial: Callable[..., None], space: Any, run_dir: Path) -> dict[str, Any]:
    """`drive_trial`'s constants as raytl's `tune_function` passes them: the space and the run (a `RunDir`, or its
    path where `drive_trial` takes `run_dir`)."""
    from raytl.pipeline.run_dir import RunDir

    if "run_dir" in inspect.signature(drive_trial).parameters:
        return {"space": space, "run_dir": str(run_dir)}
    return {"space": space, "run": RunDir(run_dir)}


def _stamp(out: Path, name: str) -> float:
    return float((out / name).read_text())


def _actor(out: Path) -> float:
    return _stamp(out, "trial_started_at") - _stamp(out, "actor_created_at")


def timed_trial(config: dict[str, Any], trial: Callable[..., None], out: str, kwargs: dict[str, Any]) -> None:
    """Every measured Tune trial's function: "trial start" is written first, then `trial` runs. (Also written:
    when this Tune actor's process was created.)"""
    Path(out, "trial_started_at").write_text(repr(time.time()))
    import psutil

    Path(out, "actor_created_at").write_text(repr(psutil.Process().create_time()))
    trial(config, **kwargs)


def _run_config(storage: str) -> ray.train.RunConfig:
    """The inner Train run of a trial, configured as raytl's trial function configures it."""
    return ray.train.RunConfig(name=tune.get_context().get_trial_id(), storage_path=storage,
                               callbacks=[TuneReportCallback()],
                               checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
                               failure_config=ray.train.FailureConfig(max_failures=0))


def bare_trial(config: dict[str, Any], workers: int, cpus: float, storage: str, out: str) -> None:
    """The baseline trial function: a TorchTrainer with raytl's workers whose worker function only stamps its entry."""
    TorchTrainer(bare_worker, train_loop_config={"out": out},
                 scaling_config=ray.train.ScalingConfig(num_workers=workers, resources_per_worker={"CPU": cpus}),
                 run_config=_run_config(storage)).fit()


def bare_worker(config: dict[str, Any]) -> None:
    Path(config["out"], f"worker-{os.getpid()}").write_text(repr(time.time()))


def breakdown_trial(config: dict[str, Any], space: Any, params: dict[str, Any], run_dir: str, out: str, workers: int,
                    cpus: float) -> None:
    """raytl's trial function with `breakdown_worker` as the worker function (`params`: `trial_params(config)`,
    computed by the caller, so that this process does not import raytl's trainable after the trial started)."""
    trial_id = tune.get_context().get_trial_id()
    TorchTrainer(breakdown_worker,
                 train_loop_config={"space": space, "params": params, "trial_id": trial_id, "run_dir": run_dir,
                                    "out": out},
                 scaling_config=ray.train.ScalingConfig(num_workers=workers, resources_per_worker={"CPU": cpus}),
                 run_config=_run_config(str(Path(run_dir) / "train"))).fit()


def breakdown_worker(config: dict[str, Any]) -> None:
    """raytl's start-up up to the first step (as `train_loop_per_worker` then `train_target` run it), stamped."""
    stamps = {"worker entered": time.time()}
    import psutil

    stamps["process created"] = psutil.Process().create_time()
    import datasets  # noqa: F401

    stamps["import datasets"] = time.time()
    import transformers  # noqa: F401

    stamps["import transformers"] = time.time()
    import deepspeed  # noqa: F401

    stamps["import deepspeed"] = time.time()
    import torch

    from raytl.models.task_model import TaskModel, build_encoder
    from raytl.pipeline.context import TrialContext, make_engine, train_batches
    from raytl.pipeline.phase_id import TrialParams
    from raytl.pipeline.run_dir import RunDir
    from raytl.pipeline.trial import train_loop_per_worker  # noqa: F401  (what raytl's workers import)
    from raytl.tasks import TASKS
    from raytl.tasks.formats import FORMATS
    from raytl.tasks.labels import with_labels
    from raytl.training.distributed import Ranks
    from raytl.training.loop import fit

    stamps["import raytl"] = time.time()
    space, context = config["space"], ray.train.get_context()
    ranks = Ranks(context.get_world_rank(), context.get_world_size())
    worker = TrialContext(space=space, params=TrialParams(**config["params"]), ranks=ranks,
                          run=RunDir(Path(config["run_dir"])), trial_id=config["trial_id"])
    torch.set_num_threads(max(1, int(space.resources.cpus_per_worker)))
    tokenizer = worker.tokenizer
    stamps["tokenizer"] = time.time()
    task, phase = with_labels(TASKS[TARGET], space.data), space.target_phase(TARGET)
    fmt = FORMATS[task.format]
    batches = train_batches(worker, task, phase)
    stamps["training rows"] = time.time()

    def build() -> TaskModel:
        torch.manual_seed(worker.params.seed)
        encoder = build_encoder(worker.entry, tokenizer, worker.params.seed)
        model = TaskModel(encoder, fmt.head(encoder.config, task))
        stamps["model built"] = time.time()
        return model

    engine = make_engine(worker, build, phase, worker.params.lr_target, phase.max_steps)
    stamps["DeepSpeed engine"] = time.time()
    fit(engine, batches.from_step(0), fmt.loss, start_step=0, total_steps=1, eval_every=1,
        on_evaluation=lambda step, loss: None)
    stamps["first step"] = time.time()
    Path(config["out"], f"rank-{worker.ranks.rank}.json").write_text(json.dumps(stamps))


def _space(args: argparse.Namespace, root: Path) -> Any:
    """The quickstart's shape, one baseline trial on one target, one step (only the start-up is timed)."""
    from raytl.config import parse_space

    phase = {"lr": {"low": 1.0e-3, "high": 3.0e-3}, "max_steps": args.steps, "batch_size": args.batch,
             "max_length": args.max_length, "eval_every": args.steps}
    return parse_space({
        "name": "startup",
        "storage": str(root / "runs"),
        "models": ["tiny"],
        "intermediate_tasks": ["none"],
        "targets": [TARGET],
        "intermediate": phase,
        "target": phase,
        "data": {"source": "generated", "generated_train_size": args.train_size,
                 "generated_eval_size": args.eval_size},
        "resources": {"num_workers": args.workers, "cpus_per_worker": args.cpus_per_worker},
        "deepspeed": {"zero_stage": 2},
        "search": {"num_trials": 1, "max_concurrent_trials": 1, "seed": 0},
        "scheduler": {"type": "none"},
    })


def _start_ray(space: Any) -> None:
    """raytl's own local Ray (its trial-driver resource), never another engineer's cluster."""
    from raytl.search.tuner import start_ray

    os.environ.pop("RAY_ADDRESS", None)
    start_ray(space)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _print_trials(trials: dict[str, list[dict[str, float]]]) -> None:
    def median(kind: str, key: str) -> float:
        return _median([trial[key] for trial in trials[kind]])

    bare = median("bare", "worker entered")
    print(f"medians, seconds from trial start: worker function entered: bare {bare:.2f}, raytl warm "
          f"{median('warm', 'worker entered'):.2f} (+{median('warm', 'worker entered') - bare:.2f}; its workers "
          f"import raytl while they unpickle its worker function), cold {median('cold', 'worker entered'):.2f}; "
          f"raytl's first step ended: warm {median('warm', 'first step'):.2f}, cold {median('cold', 'first step'):.2f}")
    print(f"(not in the window) Tune actor process created -> trial function began: bare {median('bare', 'actor'):.2f} "
          f"s, raytl {median('warm', 'actor'):.2f} s (unpickling raytl's trial function imports raytl there)")


def _print_breakdown(parts: dict[str, list[dict[str, float]]]) -> None:
    if not parts["cold"]:
        return
    print(f"breakdown: the same start-up, stamped step by step (rank 0; median of {len(parts['cold'])}): seconds "
          "from trial start, and each part (since the stamp before)")
    print(f"  {'stamp':<22}{'cold':>8}{'part':>8}{'warm':>8}{'part':>8}")
    previous = {"cold": 0.0, "warm": 0.0}
    for name in BREAKDOWN:
        cells = []
        for kind in ("cold", "warm"):
            at = _median([stamps[name] for stamps in parts[kind]])
            cells += [at, at - previous[kind]]
            previous[kind] = at
        print(f"  {name:<22}" + "".join(f"{value:8.2f}" for value in cells))


def _figure(trials: dict[str, list[dict[str, float]]], ratios: dict[str, list[float]]) -> str:
    def both(values: list[float]) -> str:
        return f"{_median(values):.2f} [min {min(values):.2f}]"

    seconds = {kind: [trial["first step"] for trial in trials[kind]] for kind in trials}
    return (f"startup: {_median(ratios['warm']):.2f} (target <= 1.3; warm raytl trial (tokenised data cached, what "
            f"most of a search's trials see) / bare TorchTrainer trial, seconds from trial start to first step, "
            f"median [min] of {len(ratios['warm'])} per-repeat ratios; cold cache {both(ratios['cold'])}; seconds: "
            f"bare {both(seconds['bare'])}, raytl warm {both(seconds['warm'])}, cold {both(seconds['cold'])})")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="repeats of bare, raytl cold, raytl warm, bare")
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers per trial (the quickstart's 2)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--train-size", type=int, default=2048, help="generated training rows (the quickstart's)")
    parser.add_argument("--eval-size", type=int, default=16, help="generated dev/test rows (after the timed part)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1, help="target steps of a raytl trial (only the first is timed)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the untimed first trials")
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false", help="skip the stamped trials")
    parser.add_argument("--keep", help="run in this directory and keep it (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 1:
        parser.error("need repeats and steps >= 1")
    return args


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
