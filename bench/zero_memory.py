"""Model-state bytes each DeepSpeed worker holds under ZeRO-3 against ZeRO-0: parameters, gradients, optimizer state.

`python -m bench zero_memory [--model tiny4] [--workers 2] [--steps 3] [--batch 8] [--length 32] [--stages 0,3]
[--precisions fp32,bf16]`

For each ZeRO stage, a real Ray Train `TorchTrainer` with `workers` CPU workers (gloo, 1 CPU and 1 torch thread
each) runs what a raytl phase runs: the DeepSpeed config `deepspeed_config` builds from `gpu_settings` (the zoo
entry's ZeRO-3 buckets and `stage3_param_persistence_threshold`; fp32 on CPU, no offload), the same seeded `tiny4`
encoder + XNLI classification head built inside `model_construction` (partitioned as it is built under ZeRO-3), and
raytl's `Engine` (`deepspeed.initialize` + AdamW). It trains `steps` real optimizer steps through
`Engine.train_step` on synthetic rows, so gradients and Adam states exist.

On the last step each worker counts, between `backward` and DeepSpeed's `step` (the point where gradients, weights
and optimizer states are all alive), the bytes of the tensors it actually holds, deduplicated by storage
(`untyped_storage().data_ptr()`; a storage counts once, in full, for the first component that holds it):

- parameters: every module parameter's `data` (under ZeRO-3: empty for partitioned weights, whole for the ones
  `stage3_param_persistence_threshold` keeps on every rank) and its ZeRO-3 partition `param.ds_tensor` (views
  into the optimizer's flat partition buffer);
- gradients: `param.grad`, the ZeRO optimizer's gradient partitions (`grad_partitions_flat_buffer` under ZeRO-3,
  `averaged_gradients` under ZeRO-1/2), its reduction buckets (`ipg_buckets` / `ipg_buffer`) and the master
  weights' `.grad`;
- optimizer state: the inner torch optimizer's parameters (ZeRO's fp32 master partitions; under fp32 ZeRO-3 these
  share the parameters' storage and add nothing) and its state (`exp_avg`, `exp_avg_sq`, `step`).

As a check that nothing was missed, every live tensor in the worker process (found through `gc`) is counted the
same way; what the three components do not explain (the batch, rotary/position buffers, ...) is printed as
`other`. The counts after `step` are printed too. The totals are compared with DeepSpeed's own estimators
(`estimate_zero3_model_states_mem_needs` and `estimate_zero2_model_states_mem_needs`, fed by DeepSpeed's
`model_to_params` on the whole model; they assume 16-bit weights with fp32 master weights and gradients, so they
are not fp32 figures) and with raytl's planner (`raytl.training.memory.model_states_bytes`, fp32).

Precisions: fp32 is what raytl runs on CPU (`gpu_settings`), and the figure. bf16 is what `resolve_settings`
gives real models on a bf16 GPU, run here on DeepSpeed's CPU accelerator for comparison (raytl's `Engine` casts the
task head, built outside `zero.Init`, to bf16 under ZeRO-3, as DeepSpeed needs).

The figure (last line) is max over workers of (ZeRO-3 per-worker parameters + gradients + optimizer state) /
(the same for ZeRO-0). Perfect partitioning over 2 workers gives 0.5; target <= 0.55. Under fp32 ZeRO-0 the
optimizer updates the parameters themselves (16 bytes per parameter), while DeepSpeed's ZeRO-3 keeps a separate
fp32 master partition (20 bytes per parameter / workers), so fp32 cannot go below 20 / 32 = 0.625 on 2 workers.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from bench._training import loss_fn, start_ray, synthetic_rows, task_model

LR = 2e-5
WEIGHT_DECAY = 0.01
COMPONENTS = ("parameters", "gradients", "optimizer")
MIB = 2**20


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--model", "tiny", "--steps", "2", "--batch", "4", "--length", "16"])  # doctest: +SKIP
    """
    args = _parse(argv)
    torch.manual_seed(args.seed)
    model, pad_id, vocab = task_model(args.model, args.seed)
    rows = synthetic_rows([args.length] * (args.batch * args.steps), vocab, args.seed)
    estimates = _estimates(args, model)
    print(f"model {args.model} ({estimates['params']:,} parameters, largest layer {estimates['largest']:,}), "
          f"{args.workers} workers x 1 CPU, {'/'.join(args.precisions)}, batch {args.batch} x {args.length} tokens, "
          f"{args.steps} steps; MiB each worker holds after the last backward")
    start_ray(args.workers)
    measured: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for precision in args.precisions:
        for stage in args.stages:
            measured[precision, stage] = _run(args, rows, pad_id, precision, stage)
            for report in measured[precision, stage]:
                print(_describe(precision, stage, report), flush=True)
    for stage in args.stages:
        print(f"  estimates ZeRO-{stage} per worker: {_estimate_line(stage, estimates)}")
    print(_figure(args, measured, estimates))


def _run(args: argparse.Namespace, rows: list[dict], pad_id: int, precision: str,
         zero_stage: int) -> list[dict[str, Any]]:
    """One TorchTrainer run at `zero_stage`; every worker's counts, in rank order."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    with tempfile.TemporaryDirectory(prefix="bench-zero-memory-") as storage:
        out = Path(storage)
        config = {**vars(args), "rows": rows, "pad_id": pad_id, "precision": precision, "zero_stage": zero_stage,
                  "out": str(out)}
        TorchTrainer(
            memory_worker,
            train_loop_config=config,
            torch_config=TorchConfig(backend="gloo"),
            scaling_config=ray.train.ScalingConfig(num_workers=args.workers, resources_per_worker={"CPU": 1}),
            run_config=ray.train.RunConfig(name=f"zero-memory-{precision}-{zero_stage}", storage_path=storage),
        ).fit()
        return [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(args.workers)]


def memory_worker(config: dict[str, Any]) -> None:
    """A Ray Train worker: raytl's Engine at one ZeRO stage, `steps` training steps, bytes counted on the last."""
    import ray.train

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    report = measure(argparse.Namespace(**config), rank, world)
    # Train V2 keeps only metrics reported with a checkpoint: a file on this (local) machine is simpler
    Path(config["out"], f"rank{rank}.json").write_text(json.dumps(report))


def measure(args: argparse.Namespace, rank: int, world: int) -> dict[str, Any]:
    """This rank's counts (torch.distributed already initialised with `world` ranks)."""
    from raytl.training.batching import TrainBatches, row_length
    from raytl.training.engine import Engine, deepspeed_config, is_partitioned, model_construction

    torch.set_num_threads(1)
    settings = _settings(args, args.zero_stage, world)
    ds_config = deepspeed_config(settings, args.batch, LR, args.steps, 1, 1.0)
    with model_construction(ds_config):
        model, _, _ = task_model(args.model, args.seed)
    partitioned = is_partitioned(model.encoder)  # the head (a plain module) is partitioned by deepspeed.initialize
    engine = Engine(model, ds_config, weight_decay=WEIGHT_DECAY)
    rows = args.rows
    batches = TrainBatches(rows=rows, lengths=[row_length(r) for r in rows], keys=("labels",),
                           batch_size=args.batch, micro_batch=settings.micro_batch, seed=args.seed, rank=rank,
                           world=world, pad_id=args.pad_id).from_step(0)
    for _ in range(args.steps - 1):
        engine.train_step(next(batches), loss_fn)
    counts: dict[str, Any] = {}
    take_step = engine.ds.step

    def counted_step(*a: Any, **k: Any) -> Any:
        counts["after_backward"] = model_state_bytes(engine.ds)
        return take_step(*a, **k)

    engine.ds.step = counted_step  # the last step, still through Engine.train_step: count before DeepSpeed steps
    loss = engine.train_step(next(batches), loss_fn)
    del engine.ds.step
    counts["after_step"] = model_state_bytes(engine.ds)
    zero = ds_config["zero_optimization"]
    return {"rank": rank, "world": world, "loss": loss, "encoder_built_partitioned": partitioned,
            "persistence_threshold": zero.get("stage3_param_persistence_threshold"),
            "reduce_bucket_size": zero.get("reduce_bucket_size"), **counts}


def _settings(args: argparse.Namespace, zero_stage: int, world: int, precision: str | None = None) -> Any:
    """raytl's resolved DeepSpeed settings: fp32 as on this CPU (`gpu_settings`), or what a bf16 GPU resolves to."""
    from raytl.config import DeepSpeedConfig
    from raytl.models.zoo import ZOO
    from raytl.training.settings import resolve_settings

    precision = precision or args.precision
    requested = DeepSpeedConfig(zero_stage=zero_stage, offload="none", precision=precision)
    return resolve_settings(requested, ZOO[args.model], world, args.batch, None, on_gpu=precision != "fp32")


class _Ledger:
    """Bytes of distinct storages, each counted once for the first component that holds it."""

    def __init__(self) -> None:
        self.owner: dict[int, str] = {}
        self.bytes: Counter[str] = Counter()
        self.shared: Counter[str] = Counter()  # tensor bytes a component holds in another component's storage

    def add(self, component: str, tensor: Any) -> None:
        if not isinstance(tensor, torch.Tensor):
            return
        storage = tensor.untyped_storage()
        pointer, size = storage.data_ptr(), storage.nbytes()
        if size == 0:
            return
        if pointer in self.owner:
            if self.owner[pointer] != component:
                self.shared[component] += tensor.numel() * tensor.element_size()
            return
        self.owner[pointer] = component
        self.bytes[component] += size


def model_state_bytes(engine: Any) -> dict[str, Any]:
    """Bytes of parameters, gradients and optimizer state a DeepSpeed engine holds in this process (live tensors,
    distinct storages), plus every other live tensor's bytes (`other`) and a few facts about the layout."""
    ledger = _Ledger()
    params = list(engine.module.parameters())
    for param in params:
        ledger.add("parameters", getattr(param, "ds_tensor", None))  # the ZeRO-3 partition
        ledger.add("parameters", param.data)
    optimizer = engine.optimizer
    inner = getattr(optimizer, "optimizer", optimizer)  # ZeRO wraps the torch optimizer
    # ZeRO's fp32 master partitions (ZeRO-3 puts them in the torch optimizer's param_groups only during its step)
    masters = [p for group in inner.param_groups for p in group["params"]] + list(inner.state)
    masters += list(getattr(optimizer, "fp32_partitioned_groups_flat", None) or [])  # ZeRO-3
    masters += list(getattr(optimizer, "single_partition_of_fp32_groups", None) or [])  # ZeRO-1/2
    masters = list({id(master): master for master in masters}.values())
    for tensor in [p.grad for p in params] + _zero_gradient_buffers(optimizer) + [p.grad for p in masters]:
        ledger.add("gradients", tensor)
    for master in masters:
        ledger.add("optimizer", master)
    master_bytes = ledger.bytes["optimizer"]
    for master in masters:
        for value in inner.state.get(master, {}).values():
            ledger.add("optimizer", value)
    attributed = dict(ledger.bytes)
    for obj in gc.get_objects():
        if isinstance(obj, torch.Tensor):
            ledger.add("other", obj)
    persistent = [p for p in params if getattr(p, "ds_persist", False)]
    return {
        **{name: attributed.get(name, 0) for name in COMPONENTS},
        "other": ledger.bytes["other"],
        "optimizer_master": master_bytes,  # of `optimizer`: master weights in storage of their own
        "optimizer_shared": ledger.shared["optimizer"],  # master weights that are the parameters themselves
        "params": sum(getattr(p, "ds_numel", p.numel()) for p in params),
        "partition_numel": sum(p.ds_tensor.numel() for p in params if hasattr(p, "ds_tensor")),
        "whole_numel": sum(p.numel() for p in params),  # elements of `param.data` this rank holds whole
        "persistent": len(persistent),
        "persistent_numel": sum(p.ds_numel for p in persistent),
    }


def _zero_gradient_buffers(optimizer: Any) -> list[Any]:
    """The gradient partitions and reduction buckets a ZeRO optimizer keeps (attributes of DeepSpeed 0.19)."""
    found: list[Any] = [getattr(optimizer, "grad_partitions_flat_buffer", None)]  # ZeRO-3
    found += [bucket.buffer for bucket in getattr(optimizer, "ipg_buckets", {}).values()]  # ZeRO-3
    found += list(getattr(optimizer, "ipg_buffer", None) or [])  # ZeRO-1/2
    averaged = getattr(optimizer, "averaged_gradients", None) or {}  # ZeRO-1/2
    for grads in averaged.values() if isinstance(averaged, dict) else averaged:
        found += list(grads or [])
    return found


def _estimates(args: argparse.Namespace, model: torch.nn.Module) -> dict[str, Any]:
    """DeepSpeed's estimators (16-bit weights + fp32 master, no offload) and raytl's planner (fp32), per worker."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs, model_to_params
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    from raytl.models.zoo import ZOO
    from raytl.training.memory import model_states_bytes

    params, largest = model_to_params(model)
    _, zero3, _ = estimate_zero3_model_states_mem_needs(params, largest, num_gpus_per_node=args.workers,
                                                        cpu_offload=False, cpu_offload_params=False)
    _, zero2 = estimate_zero2_model_states_mem_needs(params, num_gpus_per_node=args.workers, cpu_offload=False)
    entry = ZOO[args.model]  # the planner counts the encoder only (the head is 2% of tiny4)
    planner = {(precision, stage): model_states_bytes(entry, _settings(args, stage, args.workers, precision))
               for precision in args.precisions for stage in args.stages}
    return {"params": params, "largest": largest, "deepspeed": {3: zero3, 2: zero2}, "planner": planner}


def _estimate_line(stage: int, estimates: dict[str, Any]) -> str:
    planner = ", ".join(f"{precision} {value / MIB:.2f}" for (precision, z), value in estimates["planner"].items()
                        if z == stage)
    line = f"raytl planner (encoder only) {planner} MiB"
    deepspeed = estimates["deepspeed"].get(stage)
    if deepspeed is None:
        return f"{line}; DeepSpeed has no estimator for ZeRO-{stage}"
    name = "estimate_zero3_model_states_mem_needs" if stage == 3 else "estimate_zero2_model_states_mem_needs"
    return f"{line}; DeepSpeed {name} (16-bit weights + fp32 master) {deepspeed / MIB:.2f} MiB"


def per_worker_total(counts: dict[str, Any]) -> int:
    return sum(counts[name] for name in COMPONENTS)


def _describe(precision: str, stage: int, report: dict[str, Any]) -> str:
    counts, after = report["after_backward"], report["after_step"]
    master = counts["optimizer_master"]
    parts = (f"parameters {counts['parameters'] / MIB:.3f} + gradients {counts['gradients'] / MIB:.3f} + optimizer "
             f"{counts['optimizer'] / MIB:.3f} (master copy {master / MIB:.3f}, Adam "
             f"{(counts['optimizer'] - master) / MIB:.3f}; {counts['optimizer_shared'] / MIB:.3f} shared with the "
             f"parameters)")
    layout = ""
    if stage == 3:
        layout = (f"; partition {counts['partition_numel']:,} of {counts['params']:,} elements, "
                  f"{counts['persistent']} params ({counts['persistent_numel']:,} elements) held whole (persistence "
                  f"threshold {report['persistence_threshold']}), reduce bucket {report['reduce_bucket_size']:,} "
                  f"elements, encoder built partitioned: {report['encoder_built_partitioned']}")
    return (f"  {precision} ZeRO-{stage} rank {report['rank']}: {per_worker_total(counts) / MIB:.3f} = {parts}; "
            f"other live tensors {counts['other'] / MIB:.3f}; after step {per_worker_total(after) / MIB:.3f}{layout}")


def _ratio(measured: dict[tuple[str, int], list[dict[str, Any]]], precision: str) -> tuple[float, int, int]:
    """(max over workers of ZeRO-3 / ZeRO-0 bytes, the largest ZeRO-3 and ZeRO-0 per-worker totals)."""
    totals = {z: [per_worker_total(r["after_backward"]) for r in measured[precision, z]] for z in (0, 3)}
    ratio = max(z3 / z0 for z3, z0 in zip(totals[3], totals[0], strict=True))
    return ratio, max(totals[3]), max(totals[0])


def _figure(args: argparse.Namespace, measured: dict[tuple[str, int], list[dict[str, Any]]],
            estimates: dict[str, Any]) -> str:
    if not {0, 3} <= set(args.stages):
        return "zero_memory: n/a (needs --stages with 0 and 3)"
    parts = []
    for precision in args.precisions:
        ratio, zero3, zero0 = _ratio(measured, precision)
        parts.append(f"{precision} {ratio:.3f}: ZeRO-3 {zero3 / MIB:.2f} MiB vs ZeRO-0 {zero0 / MIB:.2f} MiB")
    headline = _ratio(measured, args.precisions[0])[0]
    zero3 = estimates["planner"][args.precisions[0], 3]
    return (f"zero_memory: {headline:.3f} (target <= 0.55; the limit is 0.5; {args.model}, {args.workers} workers, "
            f"parameters + gradients + optimizer state per worker, max over workers; {'; '.join(parts)}; "
            f"ZeRO-3 estimates: DeepSpeed {estimates['deepspeed'][3] / MIB:.2f} MiB (16-bit weights), raytl planner "
            f"{zero3 / MIB:.2f} MiB ({args.precisions[0]}, encoder only))")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench zero_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny4", help="model zoo entry built from config (tiny, tiny4)")
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers (1 CPU each)")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps; bytes are counted on the last")
    parser.add_argument("--batch", type=int, default=8, help="rows per optimizer step, over all workers")
    parser.add_argument("--length", type=int, default=32, help="tokens per row")
    parser.add_argument("--stages", default="0,3", help="ZeRO stages to run, comma-separated (the figure: 3 / 0)")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="fp32: what raytl runs on CPU (the figure: the first listed); bf16: what it runs for "
                             "real models on GPUs, here on DeepSpeed's CPU accelerator")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.stages = [int(s) for s in args.stages.split(",")]
    args.precisions = args.precisions.split(",")
    if any(p not in ("fp32", "bf16") for p in args.precisions):
        parser.error("precisions are fp32 and bf16")
    if args.steps < 1 or args.workers < 1 or args.batch % args.workers:
        parser.error("need steps and workers >= 1, and batch a multiple of workers")
    if any(s not in (0, 1, 2, 3) for s in args.stages):
        parser.error("stages are 0, 1, 2 or 3")
    return args


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
