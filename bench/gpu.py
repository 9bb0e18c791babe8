"""The real-size path on one GPU, in one command: XLM-R Large and XL shapes through raytl's Engine and fit.

`python -m bench gpu [--smoke] [--models large,xl] [--stages 2,3] [--lengths 128,256] [--steps 8]
                     [--tokens 8192] [--workers N] [--peak-tflops F] [--mining-n 50000] [--no-mining] [--no-search]
                     [--search-timeout 300]`

- training: for each (model, ZeRO stage, sequence length) an encoder of the zoo entry's shape with seeded random
  weights (built from config: GPU machines may have no internet) and a 3-label classification head, trained by
  raytl's `Engine` (DeepSpeed, bf16 where the card supports it) and `fit` on full-length synthetic rows, one
  worker (`--workers`: default 2 where there are 2 GPUs, else 1). The micro batch is the largest power of two
  with at most `--tokens` tokens that the planner (`raytl.training.memory.estimate_memory`) fits in 90% of the
  card. Two untimed steps, then `--steps` timed ones: tokens/s, MFU = the planner's step FLOPs
  (`step_flops`: 6 x non-embedding parameters x tokens plus attention) / step time / the card's bf16 dense
  peak, and the peak memory (torch's reserved peak after the engine was built, plus what the CUDA context and
  NCCL hold outside torch) against the planner's estimate of the same setting;
- mining (`bench/_gpu_parts.py`): `mine_pairs` on BUCC-sized embeddings on the card, against one n x n x d
  product there, and its pairs against the CPU's on a slice;
- search (`bench/_gpu_parts.py`, only where Ray is installed): a 2-trial `raytl search` on generated data with
  a Large-shaped model (random weights in a local model directory), Ray Train on nccl.

Needs only PyTorch, transformers and DeepSpeed with its small dependencies (pydantic, ...): no Ray, Optuna or
datasets. The figure is the last line. `--smoke` runs the same code on the CPU with the tiny shapes (fp32, gloo,
a nominal 1 TFLOP/s peak: its MFU means nothing), as the test suite does.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from bench import _gpu_parts
from bench._training import loss_fn, synthetic_rows
from raytl.config import DeepSpeedConfig
from raytl.models.task_model import TaskModel, random_encoder
from raytl.models.zoo import ZOO, ModelEntry
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.training.batching import collate
from raytl.training.distributed import free_port, process_group
from raytl.training.engine import Engine, deepspeed_config, model_construction
from raytl.training.loop import fit
from raytl.training.memory import GIB, MemoryEstimate, estimate_memory, step_flops
from raytl.training.settings import DeepSpeedSettings, resolve_settings

TASK = "xnli"
WARMUP_STEPS = 2
FIT_FRACTION = 0.9  # of the card's memory a case's planned total may take
HEADLINE = ("large", 2)  # the case the figure names, at the longest length (its smoke stand-in: tiny4)
SMOKE_MODELS = {"large": "tiny4", "xl": "tiny"}
# bf16 dense peaks from NVIDIA's datasheets (the sparsity figures halved), matched against the device name in order
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("GH200", 989.5), ("H100", 989.5), ("H200", 989.5),
                    ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0))


@dataclass(frozen=True)
class Card:
    """What the figures are measured against: the device, its bf16 dense peak per GPU, its memory."""

    name: str
    peak_flops: float
    memory: int
    cuda: bool


@dataclass(frozen=True)
class Case:
    """One measured setting: model shape, ZeRO stage, sequence length, and the planner's view of it."""

    model: str
    entry: ModelEntry
    stage: int
    length: int
    settings: DeepSpeedSettings
    estimate: MemoryEstimate

    @property
    def label(self) -> str:
        return f"{self.model} ZeRO-{self.stage} seq {self.length} micro {self.settings.micro_batch}"


def main(argv: list[str]) -> None:
    """Run every case, the mining and the search; the last printed line is the figure.

    >>> main(["--smoke", "--models", "large", "--stages", "2", "--lengths", "16", "--steps", "1", "--no-search",
    ...       "--mining-n", "300"])  # doctest: +SKIP
    """
    args = _parse(argv)
    if not args.smoke and not torch.cuda.is_available():  # e.g. `python -m bench all` on a CPU machine
        print("gpu: not run (no CUDA device; --smoke runs the same code on the CPU with tiny shapes)")
        return
    started = time.perf_counter()
    card = detect_card(args)
    print(f"card: {card.name}, bf16 peak {card.peak_flops / 1e12:.1f} TFLOP/s per GPU, {card.memory / GIB:.1f} GiB; "
          f"{args.workers} worker(s); torch {torch.__version__}", flush=True)
    cases, skipped = plan_cases(args, card)
    for line in skipped:
        print(line, flush=True)
    results = run_cases(cases, args, card)
    mining = _gpu_parts.mining(args, card.cuda) if args.mining else None
    search = _gpu_parts.search(args, card.cuda) if args.search else "not run (--no-search)"
    print(f"search: {search}")
    print(figure(results, mining, search, card, time.perf_counter() - started, args))


def detect_card(args: argparse.Namespace) -> Card:
    """The GPU (or, with --smoke, the CPU) and its bf16 peak; an unknown GPU needs --peak-tflops (exit 2 without:
    one line naming the device)."""
    if args.smoke:
        return Card("CPU (smoke)", (args.peak_tflops or 1.0) * 1e12, 4 * 2**40, cuda=False)
    properties = torch.cuda.get_device_properties(0)
    peak = args.peak_tflops or next((tflops for key, tflops in PEAK_BF16_TFLOPS if key in properties.name), None)
    if peak is None:
        print(f"error: bench gpu: --peak-tflops: no known bf16 peak for {properties.name!r}; allowed: the card's "
              "dense bf16 TFLOP/s from its datasheet", file=sys.stderr)
        raise SystemExit(2)
    return Card(properties.name, peak * 1e12, properties.total_memory, cuda=True)


def plan_cases(args: argparse.Namespace, card: Card) -> tuple[list[Case], list[str]]:
    """Every (model, stage, length) with the largest micro batch the planner fits; lines for those that never fit."""
    cases, skipped = [], []
    for model in args.models:
        entry = ZOO[SMOKE_MODELS[model] if args.smoke else model]
        for stage in args.stages:
            for length in args.lengths:
                case = _fitting_case(model, entry, stage, length, args, card)
                if case is None:
                    skipped.append(f"{model} ZeRO-{stage} seq {length}: skipped, the planner fits not even micro "
                                   f"batch 1 in {FIT_FRACTION:.0%} of {card.memory / GIB:.1f} GiB")
                else:
                    cases.append(case)
    return cases, skipped


def _fitting_case(model: str, entry: ModelEntry, stage: int, length: int, args: argparse.Namespace,
                  card: Card) -> Case | None:
    micro = 1 << max(0, (args.tokens // length).bit_length() - 1)
    requested = DeepSpeedConfig(zero_stage=stage, offload="none", precision="auto")
    while micro >= 1:
        settings = resolve_settings(requested, entry, args.workers, micro * args.workers, micro, on_gpu=card.cuda,
                                    bf16_supported=card.cuda and torch.cuda.is_bf16_supported())
        estimate = estimate_memory(entry, settings, length)
        if estimate.total <= FIT_FRACTION * card.memory:
            return Case(model, entry, stage, length, settings, estimate)
        micro //= 2
    return None


def run_cases(cases: list[Case], args: argparse.Namespace, card: Card) -> list[dict[str, Any]]:
    """Every case on `args.workers` processes (this one alone for 1; spawned ranks otherwise, rank 0's results)."""
    if args.workers == 1:
        return _rank_cases(0, cases, args, card, free_port())
    import torch.multiprocessing as mp

    queue = mp.get_context("spawn").SimpleQueue()
    port = free_port()
    context = mp.spawn(_spawned_rank, args=(cases, args, card, port, queue), nprocs=args.workers, join=False)
    results = queue.get()
    context.join()
    return results


def _spawned_rank(rank: int, cases: list[Case], args: argparse.Namespace, card: Card, port: int, queue: Any) -> None:
    results = _rank_cases(rank, cases, args, card, port)
    if rank == 0:
        queue.put(results)


def _rank_cases(rank: int, cases: list[Case], args: argparse.Namespace, card: Card, port: int
                ) -> list[dict[str, Any]]:
    results = []
    with process_group(rank, args.workers, port, backend="nccl" if card.cuda else "gloo"):
        for case in cases:
            try:
                result = measure(case, args, card)
            except torch.cuda.OutOfMemoryError as exc:  # a finding about the planner, not the end of the run
                gc.collect()
                torch.cuda.empty_cache()
                if rank == 0:
                    print(f"{case.label}: OUT OF MEMORY where the planner said {case.estimate.total / GIB:.1f} GiB "
                          f"({str(exc).splitlines()[0][:160]})", flush=True)
                continue
            if rank == 0:
                print(describe(case, result, card), flush=True)
            results.append(result)
    return results


def measure(case: Case, args: argparse.Namespace, card: Card) -> dict[str, Any]:
    """Build, train WARMUP_STEPS + args.steps steps with `fit`, and time the last args.steps (collective)."""
    config = deepspeed_config(case.settings, case.settings.micro_batch * args.workers, lr=1e-5,
                              total_steps=WARMUP_STEPS + args.steps, warmup_steps=1, grad_clip=1.0)
    built_at = time.perf_counter()
    engine = Engine(_model(case, config, card), config, weight_decay=0.01)
    built = time.perf_counter() - built_at
    outside_torch = _outside_torch(card)
    if card.cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    vocab = case.entry.vocab_size
    rows = synthetic_rows([case.length] * case.settings.micro_batch, vocab, seed=0)
    batch = collate(rows, pad_id=1, keys=["labels"])
    stamps: list[float] = []
    fit(engine, iter(lambda: [batch], None), loss_fn, start_step=0, total_steps=WARMUP_STEPS + args.steps,
        eval_every=10**9, on_evaluation=lambda step, loss: None,
        on_step=lambda step: stamps.append(time.perf_counter()))
    step_s = (stamps[-1] - stamps[WARMUP_STEPS - 1]) / args.steps
    rows_per_step = case.settings.micro_batch * args.workers
    flops = step_flops(case.entry, rows_per_step, case.length)
    peak = torch.cuda.max_memory_reserved() + outside_torch if card.cuda else None
    allocated = torch.cuda.max_memory_allocated() if card.cuda else None
    del engine
    gc.collect()
    if card.cuda:
        torch.cuda.empty_cache()
    return {"model": case.model, "stage": case.stage, "length": case.length, "build_s": built, "step_s": step_s,
            "tokens_per_s": rows_per_step * case.length / step_s, "mfu": flops / step_s / (card.peak_flops *
                                                                                         args.workers),
            "measured_bytes": peak, "allocated_bytes": allocated, "planned_bytes": case.estimate.total}


def _model(case: Case, config: dict[str, Any], card: Card) -> TaskModel:
    """The case's encoder (partitioned at birth under ZeRO-3; built on the GPU otherwise) and its head."""
    device = torch.device("cuda", torch.cuda.current_device()) if card.cuda else torch.device("cpu")
    vocab = case.entry.vocab_size
    with model_construction(config):
        if case.stage == 3:
            encoder = random_encoder(case.entry, vocab, seed=0)
        else:
            with device:  # a 3.5B model initialised on the CPU takes minutes
                encoder = random_encoder(case.entry, vocab, seed=0)
    return TaskModel(encoder, FORMATS[TASKS[TASK].format].head(encoder.config, TASKS[TASK]))


def _outside_torch(card: Card) -> int:
    """Device memory in use that torch's allocator does not hold (CUDA context, NCCL buffers), now."""
    if not card.cuda:
        return 0
    free, total = torch.cuda.mem_get_info()
    return max(0, total - free - torch.cuda.memory_reserved())


def describe(case: Case, result: dict[str, Any], card: Card) -> str:
    memory = "memory n/a on the CPU" if result["measured_bytes"] is None else (
        f"peak {result['measured_bytes'] / GIB:.1f} GiB (allocated {result['allocated_bytes'] / GIB:.1f}), planner "
        f"{case.estimate.total / GIB:.1f} GiB: planner/measured {ratio_text(result)}")
    return (f"{case.label} {case.settings.precision}: {result['tokens_per_s']:,.0f} tokens/s, step "
            f"{result['step_s'] * 1e3:.0f} ms, MFU {result['mfu']:.3f}; {memory}; engine built in "
            f"{result['build_s']:.1f} s")


def ratio_text(result: dict[str, Any]) -> str:
    measured = result["measured_bytes"]
    return "n/a" if measured is None else f"{result['planned_bytes'] / measured:.2f}"


def figure(results: list[dict[str, Any]], mining: str | None, search: str, card: Card, seconds: float,
           args: argparse.Namespace) -> str:
    """The last line: the headline case's MFU and planner/measured memory, every case's range, the rest."""
    (model, stage), length = HEADLINE, max(args.lengths)
    headline = next((r for r in results if (r["model"], r["stage"], r["length"]) == (model, stage, length)), None)
    head = (f"MFU {headline['mfu']:.3f} ({model}, ZeRO-{stage}, seq {length}, target >= 0.45) planner/measured "
            f"memory {ratio_text(headline)} (target 0.85-1.15)" if headline else
            f"MFU n/a ({model}, ZeRO-{stage}, seq {length} not run)")
    ratios = [r["planned_bytes"] / r["measured_bytes"] for r in results if r["measured_bytes"]]
    spread = (f"; all {len(results)} cases: MFU {min(r['mfu'] for r in results):.3f}-"
              f"{max(r['mfu'] for r in results):.3f}" if results else "; no case ran")
    spread += f", planner/measured {min(ratios):.2f}-{max(ratios):.2f}" if ratios else ""
    smoke_note = " (smoke: tiny shapes on the CPU, not GPU figures)" if args.smoke else ""
    return (f"gpu: {head}{spread}; mining {mining or 'not run'}; search {search}; {card.name}, "
            f"{seconds:.0f} s{smoke_note}")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the same code on the CPU with tiny shapes (tests)")
    parser.add_argument("--models", default="large,xl", help="zoo shapes, comma-separated: large, xl")
    parser.add_argument("--stages", default="2,3", help="ZeRO stages, comma-separated")
    parser.add_argument("--lengths", help="sequence lengths, comma-separated (default 128,256; --smoke 16,32)")
    parser.add_argument("--steps", type=int, default=8, help="timed optimizer steps per case (after 2 untimed)")
    parser.add_argument("--tokens", type=int, help="most tokens per micro batch (default 8192; --smoke 128)")
    parser.add_argument("--workers", type=int, help="processes, one GPU each (default: 2 where 2 GPUs, else 1)")
    parser.add_argument("--peak-tflops", type=float, help="the card's bf16 dense peak, where its name is unknown")
    parser.add_argument("--mining-n", type=int, default=50_000, help="sentences per side of the mining")
    parser.add_argument("--no-mining", dest="mining", action="store_false")
    parser.add_argument("--no-search", dest="search", action="store_false", help="skip the 2-trial raytl search")
    parser.add_argument("--search-timeout", type=int, default=300, help="seconds the 2-trial search may take")
    args = parser.parse_args(argv)
    args.models = _names(parser, "--models", args.models, ("large", "xl"))
    args.stages = [int(s) for s in _names(parser, "--stages", args.stages, ("0", "1", "2", "3"))]
    args.lengths = [int(n) for n in (args.lengths or ("16,32" if args.smoke else "128,256")).split(",")]
    args.tokens = args.tokens or (128 if args.smoke else 8192)
    if args.workers is None:
        args.workers = 2 if not args.smoke and torch.cuda.device_count() >= 2 else 1
    if args.steps < 1 or args.workers < 1 or min(args.lengths) < 4 or max(args.lengths) > 512:
        parser.error("need --steps >= 1, --workers >= 1 and --lengths in 4..512")
    if not args.smoke and 0 < torch.cuda.device_count() < args.workers:
        parser.error(f"--workers {args.workers}: only {torch.cuda.device_count()} GPUs")
    return args


def _names(parser: argparse.ArgumentParser, flag: str, value: str, allowed: tuple[str, ...]) -> list[str]:
    names = value.split(",")
    if not names or any(name not in allowed for name in names):
        parser.error(f"{flag} {value}: allowed: {', '.join(allowed)} (comma-separated)")
    return names

