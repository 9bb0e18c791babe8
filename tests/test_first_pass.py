"""`search.first_pass: halving`: synchronous successive halving at default rates, the prior's top-k, the size
ladder, the finalists, and the settings' validation. The rounds here are plain functions (no Ray); the simulated
and real rounds are tested in tests/test_simulate.py and tests/test_search_first_pass.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from raytl.config import parse_space
from raytl.errors import InputError
from raytl.search.first_pass import (
    Measurement,
    catalogue_prior,
    finalist_space,
    keep_count,
    ladder_order,
    run_first_pass,
    rungs,
)
from raytl.search.space import define_trial
from tests.conftest import tiny_space

TASKS = ["none", "mnli", "qqp", "squadv2", "sst2", "hellaswag"]


def halving_space(tmp_path: Path, **search: Any):
    phase = {"lr": {"low": 1e-4, "high": 4e-4}, "max_steps": 90, "batch_size": 16, "eval_every": 10}
    return parse_space(tiny_space(
        tmp_path, models=["large", "base"], intermediate_tasks=TASKS, targets=["xnli", "pawsx"], target=phase,
        intermediate={**phase, "max_steps": 30},
        search={"mode": "per_target", "first_pass": "halving", **search},
        scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3}))


class Rounds:
    """A RunRound whose candidates score `quality[(model, target, task)] + step / 10` (so a later rung scores
    higher), recording every call."""

    def __init__(self, quality: dict[tuple[str, str, str], float]) -> None:
        self.quality, self.calls, self.trained = quality, [], {}

    def __call__(self, model: str, target: str, number: int, configs: list[dict[str, Any]]) -> list[Measurement]:
        self.calls.append((model, target, number, configs))
        out = []
        for config in configs:
            lineage = config.get("continues") or f"{model}-{target}-{config['intermediate']}"
            self.trained[lineage] = config["until"]
            score = self.quality[(model, target, config["intermediate"])] + config["until"] / 10
            out.append(Measurement(lineage, model, config["intermediate"], config["until"], score))
        return out


def quality(order: dict[str, list[str]], models=("base", "large")) -> dict[tuple[str, str, str], float]:
    """Tasks of each target scored by their place in `order` (first best), the same at every model."""
    return {(m, t, task): -float(rank) for m in models for t, tasks in order.items()
            for rank, task in enumerate(tasks)}


def test_rungs_and_keep_counts(tmp_path: Path) -> None:
    space = halving_space(tmp_path)
    assert rungs(space, "xnli") == [10, 30, 90]
    longer = space.model_copy(update={"scheduler": space.scheduler.model_copy(update={"grace_period": 2})})
    assert rungs(longer, "xnli") == [30, 90]  # 10 is under the grace period
    assert rungs(space.model_copy(update={"targets": ["tatoeba"]}), "tatoeba") == [0]  # embeds, never trains
    epochs = space.model_copy(update={"target": space.target.model_copy(update={"max_steps": None, "epochs": 2})})
    assert rungs(epochs, "xnli") == pytest.approx([1 / 9, 1 / 3, 1.0])  # fractions of the steps the data gives
    assert [keep_count(n, 3.0) for n in (11, 6, 4, 3, 2, 1)] == [4, 2, 2, 1, 1, 1]


def test_halving_keeps_the_best_third_and_continues_their_trials(tmp_path: Path) -> None:
    space = halving_space(tmp_path)
    order = {"xnli": ["qqp", "none", "sst2", "mnli", "squadv2", "hellaswag"],
             "pawsx": ["sst2", "qqp", "mnli", "none", "squadv2", "hellaswag"]}
    rounds = Rounds(quality(order))
    passed = run_first_pass(space, catalogue_prior(space), rounds)
    xnli_large = [call for call in rounds.calls if call[:2] == ("large", "xnli")]
    assert [[c["intermediate"] for c in call[3]] for call in xnli_large] == [
        ["mnli", "qqp", "squadv2", "sst2", "hellaswag", "none"], ["qqp", "none"], ["qqp"]]
    assert [call[3][0]["until"] for call in xnli_large] == [10, 30, 90]
    second = xnli_large[1][3][0]  # a later rung continues the candidate's trial at default rates
    assert second["continues"] == "large-xnli-qqp" and second["from_step"] == 10
    assert second["lr_target"] == pytest.approx(2e-4) and second["seed"] == space.seeds[0]
    assert [m.intermediate for m in passed.ranked["xnli"]["large"]][:3] == ["qqp", "none", "sst2"]
    assert passed.finalists("xnli", 2) == ["qqp", "sst2", "none"]  # the best two trained tasks, then none
    assert passed.finalists("pawsx", 1) == ["sst2", "none"]
    # per (model, target): 4 candidates stop at step 10, 1 at 30, 1 trains the whole 90; not 6 x 90
    assert sorted(rounds.trained.values()) == sorted([10] * 16 + [30] * 4 + [90] * 4)


def test_prior_top_k_and_the_ladder_carry_the_best(tmp_path: Path) -> None:
    space = halving_space(tmp_path, prior="semb", top_k=3, ladder=True, carry_k=1)
    assert ladder_order(space) == ["base", "large"]
    prior = {m: {"xnli": ["hellaswag", "qqp", "mnli", "sst2", "squadv2"],
                 "pawsx": ["mnli", "sst2", "qqp", "hellaswag", "squadv2"]} for m in ("base", "large")}
    order = {"xnli": ["qqp", "mnli", "hellaswag", "none", "sst2", "squadv2"],
             "pawsx": ["sst2", "mnli", "qqp", "none", "hellaswag", "squadv2"]}
    rounds = Rounds(quality(order))
    run_first_pass(space, prior, rounds)
    firsts = [(m, t, [c["intermediate"] for c in configs], configs[0]["until"])
              for m, t, n, configs in rounds.calls if n == 0]
    assert firsts == [  # every target at the small size first; the large model trains base's best (carry_k 1)
        ("base", "xnli", ["hellaswag", "qqp", "mnli", "none"], 10),
        ("base", "pawsx", ["mnli", "sst2", "qqp", "none"], 10),
        ("large", "xnli", ["qqp", "none"], 90), ("large", "pawsx", ["sst2", "none"], 90)]  # to the end, one rung


def test_the_study_after_the_first_pass_keeps_the_intermediate_rate(tmp_path: Path) -> None:
    import optuna

    space = finalist_space(halving_space(tmp_path), ["qqp", "none"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(8):
        trial = study.ask()
        constants = define_trial(trial, space)
        assert "lr_intermediate" not in trial.params  # never sampled: the phase store shares the finalists'
        if trial.params["intermediate"] != "none":
            assert constants["lr_intermediate"] == pytest.approx(space.intermediate.default_lr(trial.params["model"]))
        study.tell(trial, 0.0)


@pytest.mark.parametrize(("search", "scheduler", "message"), [
    ({"mode": "joint", "first_pass": "halving"}, None, "allowed with mode: per_target"),
    ({"mode": "per_target", "prior": "semb"}, None, "prior shapes the first pass"),
    ({"mode": "per_target", "first_pass": "halving"}, {"type": "none"}, "allowed: scheduler type asha"),
    ({"mode": "per_target", "first_pass": "halving", "prior": "bm25"}, None, "prior"),
])
def test_bad_first_pass_settings_are_named(tmp_path: Path, search: dict, scheduler: dict | None, message: str
                                           ) -> None:
    extra = {"scheduler": scheduler} if scheduler else {}
    with pytest.raises(InputError, match=message):
        parse_space(tiny_space(tmp_path, search=search, **extra))
