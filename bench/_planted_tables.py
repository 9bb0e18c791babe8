"""The transfer tables `bench search_efficiency` searches: per seed a planted best intermediate task per target,
learning curves of one of two models (`--curves`), and a prior of controlled quality (see that benchmark's
docstring)."""

from __future__ import annotations

import argparse
import math
import random
import statistics

from scipy.stats import spearmanr

from raytl.config import NO_INTERMEDIATE
from raytl.search.sim_table import Cell, TransferTable

# Points below the target's base score per model (negative: above it; other models: 0). XL and XXL over Large as
# on XNLI in Goyal et al. 2021 (80.9, 82.3, 83.1 average accuracy), for `--models large,xl,xxl`.
MODEL_DROP = {"large": (0.0, 0.0), "base": (4.0, 8.0), "xl": (-2.0, -1.0), "xxl": (-3.0, -2.0)}


def planted_table(seed: int, targets: list[str], intermediates: list[str], args: argparse.Namespace
                  ) -> tuple[TransferTable, dict[str, str]]:
    """A table whose best intermediate task per target is planted; returns it with the planted tasks."""
    rng = random.Random(seed)
    curves = random.Random(f"shared-curves-{seed}")  # `shared`: the scores' draws stay those of `independent`
    priors = random.Random(f"priors-{seed}")  # the prior's draws leave the table's scores as they were
    trained = [task for task in intermediates if task != NO_INTERMEDIATE]
    cells, planted = {}, {}
    for target in targets:
        base = rng.uniform(55.0, 80.0)
        effects, planted[target] = planted_effects(rng, trained, args)
        for model in args.models:
            prior = prior_scores(effects, trained, args.prior_rho, priors)
            drop = rng.uniform(*MODEL_DROP.get(model, (0.0, 0.0)))
            shared_gap, shared_tau = curves.uniform(15.0, 30.0), curves.uniform(0.1, 0.4)
            for task in intermediates:
                gap, tau = rng.uniform(15.0, 30.0), rng.uniform(0.1, 0.4)
                if args.curves == "shared":
                    gap = max(0.0, shared_gap + curves.gauss(0.0, args.gap_jitter))
                    tau = shared_tau * math.exp(curves.gauss(0.0, args.tau_jitter))
                cells[(model, task, target)] = Cell(
                    score=base - drop + effects[task], noise=args.noise, lr_sensitivity=args.lr_sensitivity,
                    gap=gap, tau=tau, prior=prior.get(task))
    return TransferTable(cells), planted


def planted_effects(rng: random.Random, trained: list[str], args: argparse.Namespace) -> tuple[dict[str, float], str]:
    """One target's effects (points over `none`, which is 0): each trained task ~ N(0, `spread`), and one planted
    task `margin` above the best of the others, `none` included; returns them with the planted task."""
    effects = {task: rng.gauss(0.0, args.spread) for task in trained} | {NO_INTERMEDIATE: 0.0}
    best = rng.choice(trained)
    effects[best] = max(v for k, v in effects.items() if k != best) + args.margin
    return effects, best


def prior_scores(effects: dict[str, float], trained: list[str], rho: float, rng: random.Random) -> dict[str, float]:
    """A prior of Spearman correlation about `rho` with the true gains: a Gaussian copula, Pearson
    2 sin(pi rho / 6) between the standardised gains and the prior (Kruskal 1958), fresh noise per model x target."""
    gains = [effects[task] for task in trained]
    mean, sd = statistics.mean(gains), statistics.pstdev(gains) or 1.0
    pearson = 2 * math.sin(math.pi * rho / 6)
    return {task: pearson * (effects[task] - mean) / sd + math.sqrt(1 - pearson**2) * rng.gauss(0.0, 1.0)
            for task in trained}


def prior_quality(table: TransferTable, targets: list[str], args: argparse.Namespace) -> float:
    """The realised mean Spearman correlation of the table's prior with the true gains, over model x target."""
    trained = [task for task in args.intermediates if task != NO_INTERMEDIATE]
    values = [spearmanr([table.cell(m, t, target).prior for t in trained],
                        [table.cell(m, t, target).score for t in trained]).statistic
              for m in args.models for target in targets]
    return statistics.mean(values)


def prior_recall(args: argparse.Namespace, draws: int = 20_000, seed: int = 0) -> list[float]:
    """Recall@k of the planted task in the prior's order, k = 1..(trained tasks): the share of `draws` generated
    targets (effects, planted task and prior drawn as `planted_table` draws them) whose planted task is among the
    prior's top k."""
    rng, priors = random.Random(f"recall-{seed}"), random.Random(f"recall-priors-{seed}")
    trained = [task for task in args.intermediates if task != NO_INTERMEDIATE]
    ranks = []
    for _ in range(draws):
        effects, best = planted_effects(rng, trained, args)
        prior = prior_scores(effects, trained, args.prior_rho, priors)
        ranks.append(sorted(trained, key=prior.__getitem__, reverse=True).index(best) + 1)
    return [sum(rank <= k for rank in ranks) / draws for k in range(1, len(trained) + 1)]
