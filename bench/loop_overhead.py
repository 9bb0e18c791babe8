"""Steady-state training throughput of raytl's Ray Train worker loop against a bare PyTorch loop and HF `Trainer`.

`python -m bench loop_overhead [--steps 40] [--warmup 5] [--repeats 2] [--batch 16] [--length 128] [--threads 2]`

- bare: `tiny4` (XLM-R-shaped, 4 layers, 256 hidden) + classification head, torch AdamW, gradient clipping at 1.0
  (what raytl's DeepSpeed config and `Trainer` also do), pre-collated batches, in this process;
- trainer: Hugging Face `Trainer` on the same model, rows and batch size (sequential sampler, adamw_torch);
- raytl ZeRO-N: inside a real `TorchTrainer` worker (1 worker, `threads` CPUs), raytl's `Engine` (DeepSpeed,
  ZeRO-0 and ZeRO-2, fp32), `TrainBatches` (collating from rows every step) and `fit`.

All runs see the same rows (every one `length` tokens, so dynamic padding gives raytl no advantage), batch size,
seeded initial weights and thread count. Samples/s count only the steps after `warmup`: raytl's via `fit`'s
`on_evaluation` (called every `warmup` steps), Trainer's via a callback, bare's directly. Runs are interleaved,
each repeat pairs the four; ratios are per repeat, printed as min/median. The last line is the figure.
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
LOOPS = ("bare", "trainer", "raytl-zero0", "raytl-zero2")


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--steps", "4", "--warmup", "2", "--repeats", "1", "--length", "32"])  # doctest: +SKIP
    """
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    _, pad_id, vocab = task_model(args.model, args.seed)
    rows = synthetic_rows([args.length] * (args.batch * (args.warmup + args.steps)), vocab, args.seed)
    print(f"model {args.model}, batch {args.batch} x {args.length} tokens, {args.threads} threads, "
          f"{args.warmup} warm-up + {args.steps} measured steps, {args.repeats} repeats")
    start_ray(args.threads)
    rates: dict[str, list[float]] = {loop: [] for loop in LOOPS}
    for _ in range(args.repeats):
        for loop in LOOPS:
            rates[loop].append(_RUNNERS[loop](args, rows, pad_id))
            print(f"  {loop:>12}: {rates[loop][-1]:.1f} samples/s", flush=True)
    for loop in LOOPS:
        print(f"{loop:>12}: {summary(rates[loop], 'samples/s')}")
    print(_figure(rates))


def _figure(rates: dict[str, list[float]]) -> str:
    def ratios(loop: str, base: str) -> list[float]:
        return [a / b for a, b in zip(rates[loop], rates[base], strict=True)]

    parts = []
    for loop in LOOPS[1:]:
        of_bare = ratios(loop, "bare")
        parts.append(f"{loop} {statistics.median(of_bare):.3f} [min {min(of_bare):.3f}] of bare")
    versus_trainer = [statistics.median(ratios(z, "trainer")) for z in LOOPS[2:]]
    headline = min(statistics.median(ratios(z, "bare")) for z in LOOPS[2:])
    return (f"loop_overhead: {headline:.3f} (target >= 0.95 of bare and faster than Trainer; median of per-repeat "
            f"ratios: {'; '.join(parts)}; raytl / Trainer {min(versus_trainer):.3f})")


def _bare(args: argparse.Namespace, rows: list[dict], pad_id: int) -> float:
    from raytl.training.batching import collate

    model, _, _ = task_model(args.model, args.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    batches = [collate(rows[i : i + args.batch], pad_id, ["labels"]) for i in range(0, len(rows), args.batch)]
    start = 0.0
    for step, batch in enumerate(batches, start=1):
        loss = loss_fn(model(batch), batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        if step == args.warmup:
            start = time.perf_counter()
    return args.steps * args.batch / (time.perf_counter() - start)


def _trainer(args: argparse.Namespace, rows: list[dict], pad_id: int) -> float:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    model, _, _ = task_model(args.model, args.seed)
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, *_: Any, **__: Any) -> None:
            stamps.append(time.perf_counter())

    data = [{"input_ids": torch.tensor(r["input_ids"]), "labels": torch.tensor(r["labels"])} for r in rows]
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as out:
        training = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch, max_steps=args.warmup + args.steps,
            learning_rate=LR, optim="adamw_torch", max_grad_norm=1.0, use_cpu=True, report_to=[],
            save_strategy="no", logging_strategy="no", disable_tqdm=True, train_sampling_strategy="sequential",
            dataloader_num_workers=0, seed=args.seed,
        )
        Trainer(model=_LossModel(model, pad_id), args=training, train_dataset=data, callbacks=[Stamp()]).train()
    return args.steps * args.batch / (stamps[-1] - stamps[args.warmup - 1])


class _LossModel(torch.nn.Module):
    """The task model in `Trainer`'s contract: keyword tensors in, a dict with `loss` out."""

    def __init__(self, model: torch.nn.Module, pad_id: int) -> None:
        super().__init__()
        self.model, self.pad_id = model, pad_id

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = {"input_ids": input_ids, "attention_mask": (input_ids != self.pad_id).long(), "labels": labels}
        logits = self.model(batch)
        return {"loss": loss_fn(logits, batch), "logits": logits}


def _raytl(zero_stage: int):
    def run(args: argparse.Namespace, rows: list[dict], pad_id: int) -> float:
        import ray.train
        from ray.train.torch import TorchTrainer

        with tempfile.TemporaryDirectory(prefix="bench-loop-") as storage:
            out = Path(storage) / "rate.json"
            config = {**vars(args), "rows": rows, "pad_id": pad_id, "zero_stage": zero_stage, "out": str(out)}
            trainer = TorchTrainer(
                raytl_worker,
                train_loop_config=config,
                scaling_config=ray.train.ScalingConfig(num_workers=1, resources_per_worker={"CPU": args.threads}),
                run_config=ray.train.RunConfig(name=f"loop-zero{zero_stage}", storage_path=storage),
            )
            trainer.fit()
            return json.loads(out.read_text())["samples_per_s"]

    return run


def raytl_worker(config: dict[str, Any]) -> None:
    """A Ray Train worker running raytl's training path: Engine (DeepSpeed) + TrainBatches + fit."""
    from raytl.training.batching import TrainBatches, row_length
    from raytl.training.engine import DeepSpeedSettings, Engine, deepspeed_config
    from raytl.training.loop import fit

    torch.set_num_threads(config["threads"])
    batch, warmup, total = config["batch"], config["warmup"], config["warmup"] + config["steps"]
    model, _, _ = task_model(config["model"], config["seed"])
    settings = DeepSpeedSettings(zero_stage=config["zero_stage"], offload="none", precision="fp32", world=1,
                                 micro_batch=batch)
    engine = Engine(model, deepspeed_config(settings, batch, LR, total, warmup, 1.0), weight_decay=0.0)
    rows = config["rows"]
    batches = TrainBatches(rows=rows, lengths=[row_length(r) for r in rows], keys=("labels",), batch_size=batch,
                           micro_batch=batch, seed=config["seed"], rank=0, world=1, pad_id=config["pad_id"])
    stamps: dict[int, float] = {}
    fit(engine, batches.from_step(0), loss_fn, start_step=0, total_steps=total, eval_every=warmup,
        on_evaluation=lambda step, loss: stamps.__setitem__(step, time.perf_counter()))
    rate = config["steps"] * batch / (stamps[total] - stamps[warmup])
    # Train V2 keeps only metrics reported with a checkpoint: a file on this (local) machine is simpler
    Path(config["out"]).write_text(json.dumps({"samples_per_s": rate, "threads": torch.get_num_threads()}))


_RUNNERS = {"bare": _bare, "trainer": _trainer, "raytl-zero0": _raytl(0), "raytl-zero2": _raytl(2)}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench loop_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny4", help="model zoo entry built from config")
    parser.add_argument("--steps", type=int, default=40, help="measured optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="steps before timing starts")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats of every loop")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128, help="tokens per row (every row)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, and CPUs of the Ray worker")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("need warmup >= 1 and steps >= 1")
    return args


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
