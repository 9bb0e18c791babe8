"""Training steps the search spends until its incumbent names the planted best intermediate task of every target,
against the full grid run to completion: `raytl simulate` on a generated transfer table.

`python -m bench search_efficiency [--seeds 5] [--curves shared|independent] [--mode per_target]
[--num-trials 16] [--defaults-first | --defaults-of large] [--scheduler asha] [--reduction-factor 2]
[--grace-period 2] [--sweep] [--prior-rho 0.6] [--top-k K | --recall 0.95]`

Per seed s, a transfer table is generated from s: per target a base score (the `base` model 4-8 points below
`large`), an effect per intermediate task ~ N(0, `--spread`) (the `none` baseline 0), and one PLANTED best task,
`--margin` points above the best other; evaluation noise `--noise` points, learning-rate sensitivity, and learning
curves `final - gap * exp(-s / (tau * S))` (`raytl.search.sim_table.Cell.at`) of one of two models (`--curves`):

- `shared` (default), what fine-tuning one target from different intermediate checkpoints looks like: per (model,
  target) one gap ~ U(15, 30) points and one tau ~ U(0.1, 0.4) of the phase, and per cell (intermediate task)
  jitter around them, fixed from the reasoning before any measurement:
  gap + N(0, `--gap-jitter` 2 points): the start gap is set by the target task and the freshly initialised head,
  and a better encoder starts ahead by about its final advantage (Phang et al. 2020, Pruksachatkun et al. 2020 see
  faster convergence after intermediate training), give or take a few points for how well the intermediate
  representation fits the target's format (sd 2 = ~10% of the mean gap, so curves of tasks 1-2 points apart can
  cross early);
  tau x exp(N(0, `--tau-jitter` 0.15)): the time constant is mostly a property of the target task, the model and
  the learning rate (all shared within the (model, target)); intermediate training changes convergence speed
  modestly, ~15%.
- `independent` (the stress case, the generator before `--curves`): gap ~ U(15, 30) and tau ~ U(0.1, 0.4) drawn
  independently per cell, so at an early evaluation the ranking is mostly curve shape.

The final scores and planted tasks are the same under both curve models (the same draws; `shared` takes its
curves from a second stream seeded by s). The space searches models x intermediate tasks x target learning rate
(the intermediate rate fixed, so the phase store shares intermediate phases across trials) with Optuna TPE seeded
s and the scheduler given; the noise is seeded s.
Steps are counted as `raytl simulate` counts them: an intermediate phase once per distinct phase, target phases as
far as each trial got. The figure is the median over seeds of (steps until every target's incumbent names its
planted task and keeps naming it to the end) / (grid steps); a seed that never gets there counts as infinite.
Each figure is also given in FLOPs (each step priced by its model and phase, as `raytl plan` prices it): the grid
spends most of its compute on `large`, whose step costs ~3.5x `base`'s, and the size ladder decides on `base`.
The first pass runs twice per seed: without a prior, then with a generated prior of Spearman `--prior-rho` and its
top k tasks per target as the candidates; k defaults to the smallest whose recall@k of a target's best task (the
share of 20,000 generated targets whose planted task is in the prior's top k, printed) reaches `--recall` 0.95.
`--sweep` also runs the reduction factors and grace periods of `--sweep-rf` x `--sweep-grace`. `--defaults-of
large` puts every intermediate task of the named models at default rates into `search.points_to_evaluate` (first in
each study; `--defaults-first` does it for every model). The last line is the figure, with the curve model and the
setting.
"""

from __future__ import annotations

import argparse
import math
import statistics

from bench._planted_tables import planted_table, prior_quality, prior_recall
from raytl.config import NO_INTERMEDIATE, SearchSpace, parse_space
from raytl.search.first_pass import ladder_order, rungs
from raytl.search.sim_table import TransferTable
from raytl.search.simulate import SimResult, grid_compute, grid_steps, simulate, step_prices_of
from raytl.search.space import default_lrs
from raytl.tasks import INTERMEDIATE_TASKS


def first_pass_settings(args: argparse.Namespace, prior: bool) -> dict[str, object]:
    if args.first_pass == "none":
        return {}
    return {"first_pass": "halving", "ladder": args.ladder, "carry_k": args.carry_k, "finalists": args.finalists,
            **({"prior": "semb", "top_k": args.top_k} if prior else {})}


def bench_space(seed: int, args: argparse.Namespace, rf: float, grace: int, prior: bool = False) -> SearchSpace:
    steps = {"batch_size": 32, "max_length": 128, "eval_every": args.eval_every}
    space = parse_space({
        "name": f"search-efficiency-{seed}",
        "models": args.models,
        "intermediate_tasks": args.intermediates,
        "targets": args.targets,
        "intermediate": {"lr": {"low": 2e-5, "high": 2e-5}, "max_steps": args.intermediate_steps, **steps},
        "target": {"lr": {"low": 5e-6, "high": 5e-5}, "max_steps": args.target_steps, **steps},
        "search": {"algorithm": "optuna", "mode": args.mode, "num_trials": args.num_trials,
                   "max_concurrent_trials": args.max_concurrent, "seed": seed, "defaults_first": args.defaults_first,
                   **first_pass_settings(args, prior)},
        "scheduler": {"type": args.scheduler, **({} if args.scheduler == "none" else {
            "grace_period": grace, "reduction_factor": rf})},
    })
    points = [{"model": model, "intermediate": task, **default_lrs(space, model, task)}
              for model in args.defaults_of for task in args.intermediates]
    return space.model_copy(update={"search": space.search.model_copy(update={"points_to_evaluate": points})})


def design_bound(space: SearchSpace, table: TransferTable, planted: dict[str, str], prior: bool,
                 oracle_k: bool = False) -> tuple[float, float]:
    """The fewest steps a first pass of this design could pay to find every planted task, as a share of the grid:
    an oracle that, at the first model of the pass, trains each candidate's intermediate phase once, takes every
    candidate to the first rung (no design can rank a task it never evaluated) and only the planted task on to the
    end of the phase. The candidates are every task without a prior and the prior's `top_k` with one (infinite when
    a target's planted task is not among them); `oracle_k`: each target's prior list cut just below its planted
    task, as if the search knew where it sits. Returns (share of the grid's steps, share of its FLOPs)."""
    model, union, target_steps, target_flops = ladder_order(space)[0], set(), 0, 0.0
    prices = step_prices_of(space)
    for target in space.targets:
        tasks = [task for task in space.intermediate_tasks if task != NO_INTERMEDIATE]
        if prior:
            tasks = sorted(tasks, key=lambda task: table.cell(model, task, target).prior or 0.0, reverse=True)
            tasks = tasks[:tasks.index(planted[target]) + 1 if oracle_k else space.search.top_k]
        if planted[target] not in tasks:
            return math.inf, math.inf
        union.update(tasks)
        first, total = rungs(space, target)[0], space.target_phase(target).max_steps
        steps = (len(tasks) + 1) * first + (total - first)  # type: ignore[operator]
        target_steps, target_flops = target_steps + steps, target_flops + steps * prices.target[(model, target)]
    intermediate = len(union) * space.intermediate.max_steps  # type: ignore[operator]
    return ((intermediate + target_steps) / grid_steps(space),
            (intermediate * prices.intermediate[model] + target_flops) / grid_compute(space))


def bounds_by_top_k(args: argparse.Namespace, rf: float, grace: int) -> str:
    """The prior design's bound at every `top_k` (steps / FLOPs): whether any k could reach the target, whatever the
    halving does."""
    trained = len([task for task in args.intermediates if task != NO_INTERMEDIATE])
    tables = [planted_table(seed, args.targets, args.intermediates, args) for seed in range(args.seeds)]

    def median_bound(settings: argparse.Namespace, oracle_k: bool = False) -> str:
        bounds = [design_bound(bench_space(seed, settings, rf, grace, prior=True), table, planted, prior=True,
                               oracle_k=oracle_k) for seed, (table, planted) in enumerate(tables)]
        return "/".join(f"{statistics.median(b[unit] for b in bounds):.3f}" for unit in (0, 1))

    figures = [f"{k}: {median_bound(argparse.Namespace(**{**vars(args), 'top_k': k}))}" for k in range(1, trained + 1)]
    return ", ".join(figures) + f"; k known per target (an oracle): {median_bound(args, oracle_k=True)}"


def run_setting(args: argparse.Namespace, rf: float, grace: int, prior: bool = False
                ) -> tuple[tuple[float, float], list[SimResult]]:
    """Every seed under one scheduler setting, with or without the prior: ((median found / grid in steps, in
    FLOPs), results)."""
    results, ratios, flops, quality, bounds = [], [], [], [], []
    for seed in range(args.seeds):
        table, planted = planted_table(seed, args.targets, args.intermediates, args)
        space = bench_space(seed, args, rf, grace, prior)
        result = simulate(space, table, seeds=1)[0]
        if result.truth != planted:
            raise RuntimeError(f"the table's best intermediate tasks {result.truth} are not the planted {planted}")
        grid = grid_steps(space)
        ratios.append(math.inf if result.found_at is None else result.found_at / grid)
        flops.append(math.inf if result.found_at_flops is None else result.found_at_flops / grid_compute(space))
        results.append(result)
        quality.append(prior_quality(table, args.targets, args))
        bounds.append(design_bound(space, table, planted, prior) if args.first_pass == "halving"
                      else (math.nan, math.nan))
        print(_seed_line(result, grid) + f"; FLOPs: found at {flops[-1]:.3f} of the grid's"
              + (f"; prior Spearman {quality[-1]:.2f}" if prior else "")
              + f"; design bound {bounds[-1][0]:.3f} (FLOPs {bounds[-1][1]:.3f})", flush=True)
    if prior:
        print(f"  prior: mean Spearman with the true gains {statistics.mean(quality):.2f} (asked {args.prior_rho:g})")
    print(f"  design bound (an oracle first pass: every candidate to the first rung, the planted one to the end): "
          f"median {statistics.median(b[0] for b in bounds):.3f} of the grid's steps, "
          f"{statistics.median(b[1] for b in bounds):.3f} of its FLOPs", flush=True)
    return (statistics.median(ratios), statistics.median(flops)), results


def _seed_line(result: SimResult, grid: int) -> str:
    found = "never" if result.found_at is None else f"{result.found_at:,} steps ({result.found_at / grid:.3f})"
    missed = [f"{t} (planted {p}: {result.truth_trials[t][0]} trial(s) reached it, {result.truth_trials[t][1]} "
              f"finished)" for t, p in result.truth.items() if _final(result, t) != p]
    return (f"  seed {result.seed}: found at {found}; spent {result.steps:,} steps in {result.trials} trials "
            f"({result.intermediate_steps / max(result.steps, 1):.0%} on {result.intermediate_phases} intermediate "
            f"trainings); grid {grid:,}"
            + (f"; wrong at the end: {', '.join(missed)}" if missed else ""))


def _final(result: SimResult, target: str) -> str | None:
    changes = [c for c in result.changes if c.target == target]
    return changes[-1].intermediate if changes else None


def cause(results: list[SimResult]) -> str:
    """Why seeds missed the target: where the steps went and which targets ended wrong."""
    share = statistics.median(r.intermediate_steps / max(r.steps, 1) for r in results)
    wrong = sum(_final(r, t) != p for r in results for t, p in r.truth.items())
    unfinished = sum(r.truth_trials[t][1] == 0 for r in results for t in r.truth)
    return (f"intermediate phases {share:.0%} of the spend (median); {wrong} target(s) ended with a wrong incumbent, "
            f"{unfinished} target(s) where no trial of the planted task finished the target")


def main(argv: list[str]) -> None:
    """Run the benchmark; the last printed line is the figure.

    >>> main(["--seeds", "1", "--num-trials", "4", "--targets", "xnli"])  # doctest: +SKIP
    """
    args = _parse(argv)
    settings = [(args.reduction_factor, args.grace_period)]
    if args.sweep:
        settings += [(rf, g) for rf in args.sweep_rf for g in args.sweep_grace if (rf, g) != settings[0]]
    print(f"curves: {_curves(args)}", flush=True)
    print(f"{len(args.models)} models x {len(args.intermediates)} intermediate tasks, targets {args.targets}; "
          f"steps: intermediate {args.intermediate_steps}, target {args.target_steps} each; {args.mode} search, "
          f"{args.num_trials} trials per study, {args.max_concurrent} at once; {args.scheduler} scheduler")
    figures = {}
    for rf, grace in settings:
        print(f"scheduler {args.scheduler}: reduction factor {rf:g}, grace period {grace} evaluation(s)", flush=True)
        figures[(rf, grace)], results = run_setting(args, rf, grace)
        print(f"  median found / grid: {_figures(figures[(rf, grace)])}; {cause(results)}", flush=True)
    (rf, grace), best = min(figures.items(), key=lambda item: item[1])
    with_prior = (math.nan, math.nan)
    if args.first_pass == "halving":
        recall = prior_recall(args)
        args.top_k = args.top_k or next(k for k, share in enumerate(recall, 1) if share >= args.recall)
        print(f"with a prior of Spearman {args.prior_rho:g} (top_k {args.top_k}); its recall@k of a target's best task "
              f"(generated, 20,000 targets): " + ", ".join(f"{k}: {share:.3f}" for k, share in enumerate(recall, 1)),
              flush=True)
        with_prior, results = run_setting(args, rf, grace, prior=True)
        print(f"  median found / grid: {_figures(with_prior)}; {cause(results)}", flush=True)
        print(f"  design bound by top_k (steps/FLOPs), median of {args.seeds} seeds: "
              f"{bounds_by_top_k(args, rf, grace)}", flush=True)
    print(f"search_efficiency: {best[0]:.3f} (target <= 0.2; steps until the incumbent names the planted best "
          f"intermediate of all {len(args.targets)} targets / full grid, median of {args.seeds} seeds; "
          f"{_design(args, rf, grace)}) with prior: {with_prior[0]:.3f} (target <= 0.1 at prior Spearman "
          f"{args.prior_rho:g}, top_k {args.top_k}); in FLOPs: {best[1]:.3f}, with prior {with_prior[1]:.3f}")


def _figures(figures: tuple[float, float]) -> str:
    return f"{figures[0]:.3f} of the steps, {figures[1]:.3f} of the FLOPs"


def _design(args: argparse.Namespace, rf: float, grace: int) -> str:
    first = (", defaults first" if args.defaults_first else "") + (
        f", defaults of {'+'.join(args.defaults_of)} first" if args.defaults_of else "")
    halving = "" if args.first_pass == "none" else (
        f"first pass: synchronous halving{', ladder carry_k ' + str(args.carry_k) if args.ladder else ''}, "
        f"{args.finalists} finalists; ")
    return (f"{args.curves} curves; {halving}{args.scheduler} rf {rf:g} grace {grace}, {args.mode}, "
            f"{args.num_trials} trials per study, {args.max_concurrent} at once{first}")


def _curves(args: argparse.Namespace) -> str:
    if args.curves == "independent":
        return "independent (per cell gap ~ U(15, 30), tau ~ U(0.1, 0.4): the stress case)"
    return (f"shared (per model x target gap ~ U(15, 30), tau ~ U(0.1, 0.4); per cell gap + N(0, {args.gap_jitter:g}),"
            f" tau x exp(N(0, {args.tau_jitter:g})))")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench search_efficiency", description=__doc__.splitlines()[0])
    lists = lambda text: text.split(",")  # noqa: E731
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", type=lists, default=["large", "base"])
    parser.add_argument("--intermediates", type=lists, default=[NO_INTERMEDIATE, *INTERMEDIATE_TASKS])
    parser.add_argument("--targets", type=lists, default=["xnli", "pawsx", "xquad", "udpos"])
    parser.add_argument("--intermediate-steps", type=int, default=2000)
    parser.add_argument("--target-steps", type=int, default=2000, help="steps of each target phase")
    parser.add_argument("--eval-every", type=int, default=200)
    parser.add_argument("--mode", choices=["joint", "per_target"], default="per_target")
    parser.add_argument("--num-trials", type=int, default=8, help="trials per study (after the first pass)")
    parser.add_argument("--max-concurrent", type=int, default=4)
    parser.add_argument("--defaults-first", action="store_true",
                        help="search.defaults_first: every model x intermediate at default rates first (in the budget)")
    parser.add_argument("--defaults-of", type=lists, default=[], metavar="MODELS",
                        help="search.points_to_evaluate: every intermediate of these models at default rates first")
    parser.add_argument("--curves", choices=["shared", "independent"], default="shared",
                        help="learning curves: shared per model x target with per-cell jitter, or independent per cell")
    parser.add_argument("--gap-jitter", type=float, default=2.0, help="shared curves: sd of a cell's gap, points")
    parser.add_argument("--tau-jitter", type=float, default=0.15, help="shared curves: sd of a cell's log tau")
    parser.add_argument("--scheduler", choices=["asha", "hyperband", "none"], default="asha")
    parser.add_argument("--reduction-factor", type=float, default=2.0)
    parser.add_argument("--grace-period", type=int, default=2, help="evaluations before a trial may be stopped")
    parser.add_argument("--sweep", action="store_true", help="also try --sweep-rf x --sweep-grace")
    parser.add_argument("--sweep-rf", type=lambda t: [float(v) for v in t.split(",")], default=[2.0, 3.0, 4.0])
    parser.add_argument("--sweep-grace", type=lambda t: [int(v) for v in t.split(",")], default=[1, 2, 4])
    parser.add_argument("--first-pass", choices=["halving", "none"], default="halving",
                        help="search.first_pass: synchronous halving at default rates before the study, or none")
    parser.add_argument("--ladder", action=argparse.BooleanOptionalAction, default=True,
                        help="search.ladder: smallest model first, a larger one tries the carry-k best")
    parser.add_argument("--carry-k", type=int, default=2)
    parser.add_argument("--finalists", type=int, default=2)
    parser.add_argument("--top-k", type=int, default=0, help="with the prior: intermediate tasks per target trained "
                        "(default: the smallest k whose recall@k of the best task reaches --recall)")
    parser.add_argument("--recall", type=float, default=0.95, help="per-target recall the default top_k keeps")
    parser.add_argument("--prior-rho", type=float, default=0.6, help="the generated prior's Spearman with the gains")
    parser.add_argument("--margin", type=float, default=1.0, help="points the planted task beats the next best")
    parser.add_argument("--spread", type=float, default=1.5, help="standard deviation of task effects, points")
    parser.add_argument("--noise", type=float, default=0.5, help="standard deviation of one evaluation, points")
    parser.add_argument("--lr-sensitivity", type=float, default=3.0, help="points per squared decade off the best")
    args = parser.parse_args(argv)
    if args.defaults_of and args.first_pass != "none":
        parser.error("--defaults-of puts points into the study, which the first pass replaces: add --first-pass none")
    return args
