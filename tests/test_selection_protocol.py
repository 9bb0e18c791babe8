"""No test data in any decision: the same search on the same data, once with every test label flipped, makes
exactly the same decisions (Optuna's values, the trials ASHA stopped, the winner), while its test scores change."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import optuna
import pytest

from raytl.config import DataConfig
from raytl.pipeline.run_dir import RunDir
from raytl.search.plan import load_checked
from raytl.tasks import TASKS
from raytl.tasks.formats import FORMATS
from raytl.tasks.generate import render, stable_seed
from tests.conftest import tiny_space, write_space

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_session")]

PAWSX = TASKS["pawsx"]
LAYOUT = {"train": "train.tsv", "validation": "dev_2k.tsv", "test": "test_2k.tsv"}  # PAWS-X x-final/{lang}/


def write_pawsx(root: Path, sizes: DataConfig, flip_test: bool) -> None:
    """Generated PAWS-X in the original release's layout; with `flip_test`, every test label is wrong."""
    for split, name in LAYOUT.items():
        count = sizes.generated_train_size if split == "train" else sizes.generated_eval_size
        for lang in ("en",) if split == "train" else PAWSX.languages:
            rng = random.Random(stable_seed("examples", PAWSX.name, split, lang))
            rows = render(FORMATS[PAWSX.format].generate(PAWSX, lang, count, rng), PAWSX.source(split), PAWSX, lang)
            labels = [str(label) for label in rows["label"]]
            if flip_test and split == "test":
                labels = [str(1 - int(label)) for label in labels]
            lines = ["id\tsentence1\tsentence2\tlabel"] + [
                f"{i}\t{a}\t{b}\t{label}" for i, (a, b, label) in enumerate(zip(rows["sentence1"], rows["sentence2"],
                                                                              labels, strict=True))
            ]
            path = root / "x-final" / lang / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")


def search(tmp_path: Path, name: str, flip_test: bool) -> tuple[RunDir, list[optuna.trial.FrozenTrial]]:
    from raytl.search.per_target import run_per_target

    data_dir = tmp_path / f"data-{name}"
    data = {"source": "local", "dir": str(data_dir), "generated_train_size": 1024, "generated_eval_size": 60}
    write_pawsx(data_dir, DataConfig(**data), flip_test)
    phase = {"lr": {"low": 2e-4, "high": 1e-2}, "max_steps": 30, "batch_size": 32, "max_length": 48, "eval_every": 6}
    space = load_checked(write_space(tmp_path / f"{name}.yaml", tiny_space(
        tmp_path / "runs", name=name, intermediate_tasks=["none"], targets=["pawsx"], target=phase, data=data,
        resources={"num_workers": 1, "cpus_per_worker": 1},
        search={"mode": "per_target", "num_trials": 5, "max_concurrent_trials": 1, "max_failures": 0, "seed": 3},
        scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2})))
    run = RunDir.of(space.storage, space.name)
    run_per_target(space, run)
    storage = f"sqlite:///{run.optuna_db}"
    study = optuna.load_study(study_name=f"{name}.pawsx", storage=storage)
    return run, study.get_trials(deepcopy=False)


def decisions(run: RunDir, trials: list[optuna.trial.FrozenTrial]) -> dict[str, Any]:
    winner = json.loads((run.root / "winners.json").read_text())["pawsx"]
    return {
        "optuna": [(t.params, t.state.name, t.value, dict(t.intermediate_values)) for t in trials],
        "winner": {key: value for key, value in winner.items() if key != "trial_id"},
    }


def test_flipping_every_test_label_changes_no_decision(tmp_path: Path) -> None:
    run, trials = search(tmp_path, "clean", flip_test=False)
    flipped_run, flipped_trials = search(tmp_path, "flipped", flip_test=True)

    assert decisions(run, trials) == decisions(flipped_run, flipped_trials)
    states = [t.state for t in trials]
    assert optuna.trial.TrialState.PRUNED in states and optuna.trial.TrialState.COMPLETE in states
    # a stopped trial keeps the evidence it was stopped on (Tune hands that result to on_trial_complete)
    assert all(t.intermediate_values for t in trials if t.state == optuna.trial.TrialState.PRUNED)

    # ...while test scores did change: binary labels flipped, so each language's accuracy is 100 minus the clean one
    def tests(r: RunDir) -> dict[tuple, dict[str, float]]:
        out = {}
        for path in sorted((r.root / "targets" / "pawsx" / "trials").glob("*/summary.json")):
            summary = json.loads(path.read_text())
            pawsx = summary["targets"]["pawsx"]
            if summary["status"] == "completed":
                out[tuple(sorted(summary["config"].items()))] = {
                    lang: metrics["accuracy"] for lang, metrics in pawsx["languages"].items()}
        return out

    clean, flipped = tests(run), tests(flipped_run)
    assert clean and clean.keys() == flipped.keys()
    for config, languages in clean.items():
        assert languages.keys() == set(PAWSX.languages)
        assert all(flipped[config][lang] == pytest.approx(100 - value) for lang, value in languages.items())
