"""How many trials Tune runs for a search space, computed from the validated space alone (no Optuna, no Ray), so
`raytl plan` prints the count the Tuner gets.

One study's count is Tune's `num_samples`: in grid mode the grid (models x intermediate tasks x seeds), else
`search.num_trials`. First-pass points (explicit `points_to_evaluate`, then with `defaults_first` every model x
intermediate task x seed at the default learning rates) are the study's first trials, not extra ones: points past
`num_trials` never run. `search.mode: per_target` runs one such study per target. Seeds: grid mode runs every cell
at each seed; optuna and random take them in turn (trial i of a study trains with seed i mod len(seeds)), so a
first pass of every model x task repeated once per seed covers every seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from raytl.config import SearchSpace


@dataclass(frozen=True)
class TrialCount:
    """Trials of one study, how many studies, and how the first pass fits in."""

    per_study: int
    studies: int
    first_pass: int  # points Tune runs before the sampler proposes (explicit + defaults_first)

    @property
    def total(self) -> int:
        return self.per_study * self.studies

    @property
    def unrun_points(self) -> int:
        """First-pass points past `num_trials`: Tune never runs them."""
        return max(0, self.first_pass - self.per_study)


def grid_size(space: SearchSpace) -> int:
    return len(space.models) * len(space.intermediate_tasks) * len(space.seeds)


def first_pass_size(space: SearchSpace) -> int:
    """len(`raytl.search.space.points_to_evaluate(space)`), without building the points."""
    if space.search.algorithm == "grid":
        return 0
    defaults = grid_size(space) if space.search.defaults_first else 0
    return len(space.search.points_to_evaluate) + defaults


def trial_count(space: SearchSpace) -> TrialCount:
    """The trials Tune runs (time_budget_s and gpu_hours can only stop it earlier).

    >>> from raytl.search.plan import load_checked
    >>> trial_count(load_checked("search_spaces/scaling.yaml")).total  # 9 per-target studies x 81 trials
    729
    """
    per_study = grid_size(space) if space.search.algorithm == "grid" else space.search.num_trials
    studies = len(space.targets) if space.search.mode == "per_target" else 1
    return TrialCount(per_study=per_study, studies=studies, first_pass=first_pass_size(space))


def seed_of(space: SearchSpace, trial_number: int) -> int:
    """The seed an optuna/random trial trains with: the seeds in turn, by the trial's number in its study."""
    return space.seeds[trial_number % len(space.seeds)]


def describe_trials(space: SearchSpace) -> list[str]:
    """`raytl plan`'s trial lines: per study, in all, the first pass, the seeds, and what can stop it early."""
    count, search = trial_count(space), space.search
    studies = f"{count.studies} studies (one per target) x {count.per_study}" if count.studies > 1 else "one study"
    if search.algorithm == "grid":
        how = (f"grid: {len(space.models)} models x {len(space.intermediate_tasks)} intermediate tasks x "
               f"{len(space.seeds)} seed(s), at the default learning rates; search.num_trials is not used")
    else:
        parts = [f"{len(search.points_to_evaluate)} explicit points" if search.points_to_evaluate else "",
                 f"{grid_size(space)} defaults_first points: every model x task x seed" if search.defaults_first
                 else ""]
        first = (f"the first {min(count.first_pass, count.per_study)} of them the first pass: "
                 + " + ".join(part for part in parts if part)) if count.first_pass else "no preset points"
        how = f"{search.algorithm}: search.num_trials {search.num_trials} per study; {first}"
    lines = [f"  trials: {count.total} in all = {studies}" + ("" if count.studies == 1 else " trials") + f" ({how})",
             f"  seeds: {', '.join(map(str, space.seeds))}" + (
                 " (every grid cell at each)" if search.algorithm == "grid" else
                 f" (trial i of a study uses seed number i mod {len(space.seeds)})" if len(space.seeds) > 1 else "")]
    if count.unrun_points:
        lines.append(f"  NOTE: {count.unrun_points} of the {count.first_pass} first-pass points exceed "
                     f"search.num_trials {search.num_trials} and never run; raise num_trials to run them")
    limits = [f"time_budget_s {search.time_budget_s:g} per study" if search.time_budget_s else "",
              f"gpu_hours {search.gpu_hours:g} for the run" if search.gpu_hours else ""]
    if any(limits):
        lines.append("  may stop earlier: " + ", ".join(limit for limit in limits if limit))
    return lines


def halving_trials(space: SearchSpace) -> int:
    """Trials of one target's first pass (a rung's continuation is the same trial): every candidate of each model,
    with the ladder the smallest model's and `carry_k` + 1 at each larger one."""
    trained = len([task for task in space.intermediate_tasks if task != "none"])
    first = min(space.search.top_k or trained, trained) + 1
    larger = min(space.search.carry_k, trained) + 1 if space.search.ladder else first
    return first + larger * (len(space.models) - 1)


def trials_with_first_pass(space: SearchSpace) -> int:
    """Every trial a search can run: the studies' and, with `first_pass: halving`, each target's first pass."""
    first = halving_trials(space) * len(space.targets) if space.search.first_pass == "halving" else 0
    return trial_count(space).total + first
