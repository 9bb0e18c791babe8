"""Steady-state training throughput of raytl's Ray Train worker loop against a bare PyTorch loop and HF `Trainer`.

`python -m bench loop_overhead [--steps 40] [--warmup 5] [--repeats 2] [--batch 16] [--length 128] [--threads 2]`

Inside a real `TorchTrainer` worker (1 worker, `threads` CPUs), three loops on the same model (`tiny4`:
XLM-R-shaped, 4 layers, 256 hidden, + classification head), rows, batch size, seeded initial weights and threads:

- bare: torch AdamW + gradient clipping at 1.0 (what raytl's DeepSpeed config and `Trainer` also do),
  pre-collated batches;
- trainer: Hugging Face `Trainer` (sequential sampler, adamw_torch, its own data loading); in the worker's
  initialised torch.distributed group it wraps the model in DistributedDataParallel (world size 1), as it does
  under Ray Train's own Trainer integration, just as raytl's DeepSpeed engine all-reduces with one rank;
- raytl ZeRO-N: raytl's `Engine` (DeepSpeed, ZeRO-0 and ZeRO-2, fp32), `TrainBatches` (collating from rows every
  step) and `fit`.

Every row is `length` tokens, so dynamic padding gives raytl no advantage. Samples/s = batch / the median duration
of the steps after `warmup`.

The machine is shared, and other jobs' load moves within minutes, so loops timed in separate runs are not
comparable. The three are therefore interleaved every `--chunk` steps: `Trainer` drives, and a callback at every
`chunk`-th step pauses it to run that many steps of raytl's `fit` (called per chunk with `start_step` /
`total_steps`, its batch iterator continuing) and of the bare loop. A Trainer step lasts from the end of the
previous step (or pause) to its end, so its data loading counts and the pauses do not; raytl's steps are stamped
by `fit`'s `on_evaluation` (called every step), the bare loop's inline. Each repeat gives one ratio of each kind
per ZeRO stage; printed as min/median. The last line is the figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench._training import loss_fn, start_ray, summary, synthetic_rows, task_model

LR = 2e-5
STAGES = (0, 2)


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--steps", "4", "--warmup", "2", "--repeats", "1", "--length", "32"])  # doctest: +SKIP
    """
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    _, pad_id, vocab = task_model(args.model, args.seed)
    rows = synthetic_rows([args.length] * (args.batch * (args.warmup + args.steps)), vocab, args.seed)
    print(f"model {args.model}, batch {args.batch} x {args.length} tokens, {args.threads} threads, "
          f"{args.warmup} warm-up + {args.steps} measured steps, chunks of {args.chunk}, {args.repeats} repeats")
    start_ray(args.threads)
    ratios: dict[str, list[float]] = {name: [] for z in STAGES for name in (f"raytl-zero{z}", f"trainer-zero{z}")}
    for _ in range(args.repeats):
        for zero in STAGES:
            rates = _raytl(args, rows, pad_id, zero)
            ratios[f"raytl-zero{zero}"].append(rates["raytl"] / rates["bare"])
            ratios[f"trainer-zero{zero}"].append(rates["trainer"] / rates["bare"])
            print(f"  in a Ray worker, interleaved: raytl ZeRO-{zero} {rates['raytl']:.1f}, Trainer "
                  f"{rates['trainer']:.1f} (model in {rates['trainer_wrapper']}), bare {rates['bare']:.1f} samples/s",
                  flush=True)
    for name, values in ratios.items():
        print(f"{name:>14} / bare: {summary(values, '')}")
    print(_figure(ratios))


def _figure(ratios: dict[str, list[float]]) -> str:
    medians = {name: statistics.median(values) for name, values in ratios.items()}
    parts = [f"{name} {medians[name]:.3f} [min {min(values):.3f}]" for name, values in ratios.items()]
    headline = min(medians[f"raytl-zero{z}"] for z in STAGES)
    trainer = max(medians[f"trainer-zero{z}"] for z in STAGES)
    return (f"loop_overhead: {headline:.3f} (target >= 0.95 of bare and faster than Trainer; median [min] of "
            f"per-repeat ratios to bare, all three loops interleaved in one worker: {'; '.join(parts)}; "
            f"raytl / Trainer {headline / trainer:.3f})")


def steady_rate(stamps: list[float], warmup: int, batch: int) -> float:
    """Samples/s from the median duration of the steps after `warmup` (`stamps[i]`: the end of step i + 1)."""
    return batch / statistics.median(b - a for a, b in zip(stamps[warmup - 1 : -1], stamps[warmup:], strict=True))


class _BareLoop:
    """The baseline: a plain AdamW step with gradient clipping, on pre-collated batches."""

    def __init__(self, args: argparse.Namespace, rows: list[dict], pad_id: int) -> None:
        from raytl.training.batching import collate

        self.model, _, _ = task_model(args.model, args.seed)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR)
        size = args.batch
        self.batches = [collate(rows[i : i + size], pad_id, ["labels"]) for i in range(0, len(rows), size)]

    def run(self, first: int, count: int, stamps: list[float]) -> None:
        for batch in self.batches[first : first + count]:
            loss_fn(self.model(batch), batch).backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.optimizer.zero_grad()
            stamps.append(time.perf_counter())


class _LossModel(torch.nn.Module):
    """The task model in `Trainer`'s contract: keyword tensors in, a dict with `loss` out."""

    def __init__(self, model: torch.nn.Module, pad_id: int) -> None:
        super().__init__()
        self.model, self.pad_id = model, pad_id

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = {"input_ids": input_ids, "attention_mask": (input_ids != self.pad_id).long(), "labels": labels}
        logits = self.model(batch)
        return {"loss": loss_fn(logits, batch), "logits": logits}


def _raytl(args: argparse.Namespace, rows: list[dict], pad_id: int, zero_stage: int) -> dict[str, float]:
    import ray.train
    from ray.train.torch import TorchTrainer

    with tempfile.TemporaryDirectory(prefix="bench-loop-") as storage:
        out = Path(storage) / "rates.json"
        config = {**vars(args), "rows": rows, "pad_id": pad_id, "zero_stage": zero_stage, "out": str(out)}
        TorchTrainer(
            raytl_worker,
            train_loop_config=config,
            scaling_config=ray.train.ScalingConfig(num_workers=1, resources_per_worker={"CPU": args.threads}),
            # a worker of this machine's busiest minutes died twice (no OOM or timeout logged): retry the run
            run_config=ray.train.RunConfig(name=f"loop-zero{zero_stage}", storage_path=storage,
                                           failure_config=ray.train.FailureConfig(max_failures=2)),
        ).fit()
        return json.loads(out.read_text())


def raytl_worker(config: dict[str, Any]) -> None:
    """A Ray Train worker: raytl's Engine (DeepSpeed) + TrainBatches + fit, alternating with the bare loop."""
    from raytl.training.batching import TrainBatches, row_length
    from raytl.training.engine import DeepSpeedSettings, Engine, deepspeed_config
    from raytl.training.loop import fit

    args = argparse.Namespace(**config)
    torch.set_num_threads(args.threads)
    total = args.warmup + args.steps
    model, _, _ = task_model(args.model, args.seed)
    settings = DeepSpeedSettings(zero_stage=args.zero_stage, offload="none", precision="fp32", world=1,
                                 micro_batch=args.batch)
    engine = Engine(model, deepspeed_config(settings, args.batch, LR, total, args.warmup, 1.0), weight_decay=0.0)
    rows = args.rows
    batches = TrainBatches(rows=rows, lengths=[row_length(r) for r in rows], keys=("labels",),
                           batch_size=args.batch, micro_batch=args.batch, seed=args.seed, rank=0, world=1,
                           pad_id=args.pad_id).from_step(0)
    bare = _BareLoop(args, rows, args.pad_id)
    durations: dict[str, list[float]] = {"raytl": [], "bare": [], "trainer": []}

    def other_loops(first: int, count: int) -> None:
        """raytl's `fit` and the bare loop for the same steps, while Trainer waits in its callback."""
        ours = [time.perf_counter()]
        fit(engine, batches, loss_fn, start_step=first, total_steps=first + count, eval_every=1,
            on_evaluation=lambda step, loss, ours=ours: ours.append(time.perf_counter()))
        _keep(durations["raytl"], ours, first, args.warmup)
        theirs = [time.perf_counter()]
        bare.run(first, count, theirs)
        _keep(durations["bare"], theirs, first, args.warmup)

    wrapped = _trainer(args, rows, total, durations["trainer"], other_loops)
    rates: dict[str, Any] = {name: args.batch / statistics.median(values) for name, values in durations.items()}
    rates["trainer_wrapper"] = wrapped
    # Train V2 keeps only metrics reported with a checkpoint: a file on this (local) machine is simpler
    Path(args.out).write_text(json.dumps(rates))


def _trainer(args: argparse.Namespace, rows: list[dict], total: int, durations: list[float], pause) -> str:
    """Hugging Face `Trainer` on the same model, rows and batch; every `chunk` of its steps it calls
    `pause(first, count)` from a callback, which runs the other loops for those steps. A Trainer step's duration
    runs from the end of the previous step (or the pause) to its end: data loading and every Trainer overhead
    count, the pauses do not. Returns the class `Trainer` wrapped the model in (DistributedDataParallel here: the
    worker's torch.distributed group is initialised, as in Ray Train's own Trainer integration)."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model, _, _ = task_model(args.model, args.seed)

    class Interleave(TrainerCallback):
        def __init__(self) -> None:
            self.resumed = time.perf_counter()

        def on_step_end(self, _args: Any, state: Any, *_: Any, **__: Any) -> None:
            step = state.global_step
            if step > args.warmup:
                durations.append(time.perf_counter() - self.resumed)
            if step % args.chunk == 0 or step == total:
                first = (step - 1) // args.chunk * args.chunk
                pause(first, step - first)
            self.resumed = time.perf_counter()

    data = [{"input_ids": torch.tensor(r["input_ids"]), "labels": torch.tensor(r["labels"])} for r in rows]
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as out:
        training = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch, max_steps=total,
            learning_rate=LR, optim="adamw_torch", max_grad_norm=1.0, use_cpu=True, report_to=[],
            save_strategy="no", logging_strategy="no", disable_tqdm=True, train_sampling_strategy="sequential",
            dataloader_num_workers=0, seed=args.seed,
        )
        trainer = Trainer(model=_LossModel(model, args.pad_id), args=training, train_dataset=data,
                          callbacks=[Interleave()])
        trainer.train()
        return type(trainer.model_wrapped).__name__


def _keep(durations: list[float], stamps: list[float], first: int, warmup: int) -> None:
    """Durations of the steps after `warmup` (global step numbers `first + 1 ...`) from a chunk's stamps."""
    for index, (a, b) in enumerate(zip(stamps[:-1], stamps[1:], strict=True)):
        if first + index + 1 > warmup:
            durations.append(b - a)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench loop_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny4", help="model zoo entry built from config")
    parser.add_argument("--steps", type=int, default=40, help="measured optimizer steps per loop and run")
    parser.add_argument("--warmup", type=int, default=5, help="steps before timing starts")
    parser.add_argument("--chunk", type=int, default=5, help="steps of raytl, then of bare, in turn, in the worker")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of every comparison")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128, help="tokens per row (every row)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, and CPUs of the Ray worker")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1 or args.chunk < 1:
        parser.error("need warmup, steps and chunk >= 1")
    return args


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
