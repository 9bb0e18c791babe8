"""What `raytl rank` costs against one target-phase training, on the tiny model.

`python -m bench rank_cost [--space search_spaces/quickstart.yaml] [--target xnli] [--repeats 3]
[--target-steps N] [--train-size N]`

In one process (a gloo group of one, world 1, as `raytl rank --train-missing` runs): first, untimed, the space's
intermediate phases are trained into a temporary run's phase store and the data cache is filled (`rank
--train-missing`: a search trains those phases anyway, and tokenised data is cached for every trial). Then each
repeat times, back to back, (a) the whole ranking of the space's first model, both methods, every target x
intermediate task, as `raytl rank SPACE.yaml` computes it (the base encoder's SEmb embeddings, every encoder's
LogME forward passes and fits), and (b) the baseline: one target phase of one trial, `train_target` of
`--target` on the base encoder (the space's target phase: its steps, dev evaluations and the final test
scoring). The last line is the figure: rank / target phase, median of the per-repeat ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--repeats", "1", "--target-steps", "4", "--train-size", "128"])  # doctest: +SKIP
    """
    args = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rank-cost-") as tmp:
        os.environ["RAYTL_CACHE_DIR"] = str(Path(tmp) / "cache")
        from raytl.training.distributed import single_process_group

        with single_process_group():
            _run(args, Path(tmp))


def _run(args: argparse.Namespace, tmp: Path) -> None:
    import yaml

    from raytl.config import parse_space
    from raytl.pipeline.run_dir import RunDir
    from raytl.search.rank import RankSettings, rank

    raw = yaml.safe_load(Path(args.space).read_text())
    raw["storage"] = str(tmp / "runs")
    _first_model_only(raw)
    if args.target_steps:
        raw["target"].update(max_steps=args.target_steps, eval_every=args.target_steps)
    if args.train_size:
        raw["data"]["generated_train_size"] = args.train_size
    space = parse_space(raw)
    run = RunDir.of(space.storage, space.name)
    started = time.perf_counter()
    rank(space, run, RankSettings(train_missing=True))
    print(f"setup (untimed): intermediate phases trained and data cached in {time.perf_counter() - started:.1f} s; "
          f"{len(space.models)} model(s) x {len(space.targets)} targets x {len(space.intermediate_tasks)} "
          "intermediate tasks", flush=True)
    ratios, rank_s, target_s = [], [], []
    for repeat in range(args.repeats):
        started = time.perf_counter()
        ranking = rank(space, run, RankSettings())
        rank_s.append(time.perf_counter() - started)
        assert all(e["score"] is not None for targets in ranking.values() for es in targets.values() for e in es)
        target_s.append(_one_target_phase(space, run, args.target, repeat))
        ratios.append(rank_s[-1] / target_s[-1])
        print(f"repeat {repeat}: rank {rank_s[-1]:.2f} s, one target phase ({args.target}) {target_s[-1]:.2f} s, "
              f"ratio {ratios[-1]:.4f}", flush=True)
    phase = space.target_phase(args.target)
    modelled = _flop_model_ratio(space, args.target)
    print(f"the FLOP model (raytl/search/rank_cost.py; `raytl plan` prints it per target) for the same: whole rank / "
          f"one training of the {args.target} phase {modelled:.3f} (a tiny model's forward passes are dominated "
          "by overheads FLOPs do not count, and the measured phase includes its evaluations)")
    _shipped_shares()
    print(f"rank_cost: {statistics.median(ratios):.4f} (target <= 0.05; `raytl rank` of {Path(args.space).name}, "
          f"{len(space.targets)} targets x {len(space.intermediate_tasks)} intermediate tasks, semb + logme, "
          f"{statistics.median(rank_s):.2f} s / one target phase of {args.target}, {phase.max_steps} steps x batch "
          f"{phase.batch_size}, {statistics.median(target_s):.2f} s; tiny model, world 1; median of {args.repeats} "
          f"repeats, min {min(ratios):.4f})")


def _flop_model_ratio(space, target: str) -> float:  # (SearchSpace, str) -> ratio
    from raytl.search.rank_cost import rank_costs

    costs = rank_costs(space)
    phase = next(c.target_phase_flops for c in costs if c.target == target)
    return sum(c.flops for c in costs) / phase


def _shipped_shares() -> None:
    """The FLOP model's per-target share for every shipped search space at its real data sizes."""
    from raytl.search.plan import load_checked
    from raytl.search.rank_cost import rank_costs

    for path in sorted(Path("search_spaces").glob("*.yaml")):
        costs = rank_costs(load_checked(path))
        worst = max(costs, key=lambda c: c.share)
        print(f"  {path.name}: per target, rank / one training of its phase: "
              f"{', '.join(f'{c.model} {c.target} {c.share:.3g}' for c in costs)}; largest {worst.target} "
              f"{worst.share:.3g}", flush=True)


def _first_model_only(raw: dict) -> None:
    """The figure is per model: the space's first (the quickstart's tiny), its other models' settings dropped."""
    model = raw["models"][0]
    raw["models"] = [model]
    search = raw.get("search", {})
    search["points_to_evaluate"] = [p for p in search.get("points_to_evaluate", []) if p["model"] == model]
    for phase in ("intermediate", "target"):
        raw[phase]["lr_by_model"] = {m: r for m, r in raw[phase].get("lr_by_model", {}).items() if m == model}


def _one_target_phase(space, run, target: str, repeat: int) -> float:  # (SearchSpace, RunDir, ...) -> seconds
    """Seconds of one trial's target phase of `target` on the base encoder, through the real phase code."""
    from raytl.pipeline.context import TrialContext
    from raytl.pipeline.progress import TrialRecord
    from raytl.pipeline.target_phase import train_target
    from raytl.search.rank import anchor_params
    from raytl.training.distributed import Ranks

    trial = TrialContext(space, anchor_params(space, space.models[0], "none"), Ranks(0, 1), run, f"bench-{repeat}")
    record = TrialRecord(trial, send=lambda metrics, checkpoint: None, checkpoint=None)
    started = time.perf_counter()
    train_target(trial, target, None, record)
    return time.perf_counter() - started


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench rank_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/quickstart.yaml", help="a space on the tiny model")
    parser.add_argument("--target", default="xnli", help="the target whose one phase is the baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target-steps", type=int, default=None, help="override target.max_steps (smoke tests)")
    parser.add_argument("--train-size", type=int, default=None, help="override data.generated_train_size")
    return parser.parse_args(argv)
