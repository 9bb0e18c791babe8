"""Bad input fails at the edge: exit status 2, one line naming file, key path and what is allowed, fast."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from pydantic import Field, ValidationError

from raytl.config import (
    NOT_OVERRIDABLE,
    AshaScheduler,
    CappedMixture,
    HyperbandScheduler,
    LogRange,
    NoScheduler,
    PhaseConfig,
    PhaseOverride,
    ProportionalMixture,
    TemperatureMixture,
    parse_space,
)
from raytl.config.phases import _optional_fields
from raytl.errors import InputError
from raytl.search.plan import describe, load_checked
from tests.conftest import ROOT, tiny_space, write_space


def _with(space: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = space
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return space


_DELETE = object()

BAD_VALUES = [
    ("unknown top-level key", "search_algo", "optuna", "search_algo: unknown key; allowed: name, storage, models"),
    ("unknown nested key", "intermediate.lrr", 1.0, "intermediate.lrr: unknown key; allowed: lr, epochs"),
    ("unknown target", "targets", ["xnli", "tydi"], "targets: unknown target task 'tydi'; allowed: "),
    ("unknown intermediate", "intermediate_tasks", ["mnlii"], "unknown intermediate task 'mnlii'; allowed: none"),
    ("unknown model", "models", ["xlmr-huge"], "models: unknown model 'xlmr-huge'; allowed: tiny"),
    ("lr bounds reversed", "target.lr", {"low": 1e-2, "high": 1e-4}, "target.lr: low (0.01) is above high (0.0001)"),
    ("negative learning rate", "target.lr.low", -1, "target.lr.low: Input should be greater than 0"),
    ("zero batch size", "intermediate.batch_size", 0, "intermediate.batch_size: Input should be greater than 0"),
    ("negative epochs", "target.epochs", -2, "target.epochs: Input should be greater than 0"),
    ("no length", "target.max_steps", _DELETE, "target: set epochs or max_steps"),
    ("missing models", "models", _DELETE, "models: required key is missing"),
    ("local data without dir", "data", {"source": "local"}, "data: source: local needs dir"),
    ("unknown data source", "data.source", "s3", "data.source: Input should be 'hub', 'local' or 'generated'"),
    ("bad zero stage", "deepspeed.zero_stage", 4, "deepspeed.zero_stage: "),
    ("duplicate targets", "targets", ["xnli", "xnli"], "targets: duplicate target task names"),
    ("brackets on asha", "scheduler", {"type": "asha", "brackets": 2}, "scheduler.brackets: not a setting of type: "
     "asha; allowed: type, grace_period, reduction_factor, max_t (brackets is for type: hyperband)"),
    ("brackets, type omitted", "scheduler", {"brackets": 2}, "scheduler.brackets: not a setting of type: asha"),
    ("grace period on none", "scheduler", {"type": "none", "grace_period": 2}, "scheduler.grace_period: not a "
     "setting of type: none; allowed: type (grace_period is for type: asha or hyperband)"),
    ("unknown hyperband key", "scheduler", {"type": "hyperband", "bracket": 2}, "scheduler.bracket: unknown key for "
     "type: hyperband; allowed: type, grace_period, reduction_factor, max_t, brackets"),
    ("bad hyperband value", "scheduler", {"type": "hyperband", "brackets": 0},
     "scheduler.brackets: Input should be greater than 0"),
    ("unknown scheduler", "scheduler", {"type": "pbt"}, "scheduler.type: unknown type 'pbt'; allowed: asha, "
     "hyperband, none"),
    ("scheduler not a mapping", "scheduler", "asha", "scheduler: not a mapping; allowed: type: asha | hyperband"),
    ("cap on proportional", "mixtures", {"m": {"tasks": ["mnli", "qqp"], "cap": 9}}, "mixtures.m.cap: not a setting "
     "of sampling: proportional; allowed: tasks, sampling (cap is for sampling: capped)"),
    ("temperature on capped", "mixtures", {"m": {"tasks": ["mnli", "qqp"], "sampling": "capped", "temperature": 3}},
     "mixtures.m.temperature: not a setting of sampling: capped; allowed: tasks, sampling, cap (temperature is for "
     "sampling: temperature)"),
    ("unknown sampling", "mixtures", {"m": {"tasks": ["mnli", "qqp"], "sampling": "uniform"}},
     "mixtures.m.sampling: unknown sampling 'uniform'; allowed: proportional, temperature, capped"),
    ("renamed nested key", "search.storage", "sqlite:///o.db", "search.storage: renamed; allowed: "
     "search.study_storage (the Optuna study's SQLAlchemy URL; the top-level `storage` is the run parent directory)"),
    ("renamed top-level key", "eval_split", "test", "eval_split: removed (it put test scores into the objective); "
     "allowed: selection"),
    ("equalise per target", "target_overrides", {"xnli": {"equalise": {"steps": 4}}},
     "target_overrides.xnli.equalise: unknown key; allowed: lr, epochs, max_steps"),
    ("override constraint", "target_overrides", {"xnli": {"warmup_ratio": 1.0}},
     "target_overrides.xnli.warmup_ratio: Input should be less than 1"),
]


@pytest.mark.parametrize("case,key,value,message", BAD_VALUES, ids=[case[0] for case in BAD_VALUES])
def test_bad_values_name_file_and_key(tmp_path: Path, case: str, key: str, value, message: str) -> None:
    path = write_space(tmp_path / "bad.yaml", _with(tiny_space(tmp_path / "runs"), key, value))
    with pytest.raises(InputError) as error:
        load_checked(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


@pytest.mark.parametrize(
    "content,message",
    [("", "the file is empty"), ("name: [unclosed", "malformed YAML"), ("- a\n- b\n", "the file is a list")],
)
def test_unreadable_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_checked(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_checked(tmp_path / "nope.yaml")


def test_unwritable_storage(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = write_space(tmp_path / "bad.yaml", tiny_space(blocker / "runs"))
    with pytest.raises(InputError, match=r"storage: cannot write"):
        load_checked(path)


def test_cli_exits_2_with_one_line_fast(tmp_path: Path) -> None:
    path = write_space(tmp_path / "bad.yaml", _with(tiny_space(tmp_path / "runs"), "models", ["xlmr-huge"]))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "raytl", "search", str(path)], capture_output=True, text=True)
    elapsed = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "models: unknown model 'xlmr-huge'" in lines[0]
    assert elapsed < 2.0, f"validation took {elapsed:.2f}s: something heavy is imported before the input is checked"
    assert not (tmp_path / "runs").exists(), "nothing may be created for a rejected search"


def test_search_refuses_to_overwrite_a_run(tmp_path: Path, space_file: Path) -> None:
    (tmp_path / "runs" / "t" / "tune").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "raytl", "search", str(space_file)], capture_output=True, text=True)
    assert done.returncode == 2 and "raytl resume" in done.stderr


def test_every_shipped_space_plans() -> None:
    for path in sorted((ROOT / "search_spaces").glob("*.yaml")):
        space = load_checked(path)
        assert space.name in describe(space)


def test_models_are_typed_and_ranges_checked() -> None:
    phase = PhaseConfig(lr=LogRange(low=1e-5, high=1e-4), epochs=1)
    assert phase.lr.low == 1e-5 and phase.max_steps is None
    assert yaml.safe_load(yaml.safe_dump(phase.model_dump(mode="json")))["lr"]["high"] == 1e-4


def test_a_tracker_that_is_not_installed_is_refused_at_the_edge(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("mlflow") is not None:
        pytest.skip("mlflow is installed here: the refusal cannot be shown")
    path = write_space(tmp_path / "t.yaml", tiny_space(tmp_path / "runs", tracking={"mlflow_experiment": "x"}))
    with pytest.raises(InputError, match=r"tracking.mlflow_experiment: the 'mlflow' package is not installed"):
        load_checked(path)


def test_object_store_run_directories_are_accepted_other_schemes_refused(tmp_path: Path) -> None:
    for uri in ("s3://bucket/runs", "gs://bucket/runs?endpoint_override=localhost:4443"):
        assert load_checked(write_space(tmp_path / "s.yaml", tiny_space(uri))).storage == uri
    path = write_space(tmp_path / "s.yaml", tiny_space("az://container/runs"))
    with pytest.raises(InputError, match=r"storage: unsupported scheme 'az://'; allowed: .*s3:// or gs://"):
        load_checked(path)


@pytest.mark.parametrize("scheduler,expected", [
    (None, AshaScheduler(grace_period=1, reduction_factor=3.0, max_t=None)),  # omitted: ASHA, as before the union
    ({"grace_period": 2}, AshaScheduler(grace_period=2)),
    ({"type": "asha", "reduction_factor": 2, "max_t": 64}, AshaScheduler(reduction_factor=2, max_t=64)),
    ({"type": "hyperband", "brackets": 2, "grace_period": 3}, HyperbandScheduler(brackets=2, grace_period=3)),
    ({"type": "none"}, NoScheduler()),
])
def test_every_scheduler_variant_validates_and_round_trips(tmp_path: Path, scheduler: dict | None, expected) -> None:
    data = tiny_space(tmp_path)
    del data["scheduler"]
    space = parse_space({**data, **({"scheduler": scheduler} if scheduler is not None else {})})
    assert type(space.scheduler) is type(expected) and space.scheduler == expected
    assert parse_space(space.model_dump(mode="json")) == space  # the run directory's space.yaml is read back


@pytest.mark.parametrize("mixture,expected", [
    ({}, ProportionalMixture(tasks=["mnli", "qqp"])),
    ({"sampling": "temperature"}, TemperatureMixture(tasks=["mnli", "qqp"], temperature=2.0)),
    ({"sampling": "temperature", "temperature": 5}, TemperatureMixture(tasks=["mnli", "qqp"], temperature=5)),
    ({"sampling": "capped", "cap": 100}, CappedMixture(tasks=["mnli", "qqp"], cap=100)),
])
def test_every_mixture_variant_validates_and_round_trips(tmp_path: Path, mixture: dict, expected) -> None:
    space = parse_space(tiny_space(tmp_path, mixtures={"m": {"tasks": ["mnli", "qqp"], **mixture}},
                                   intermediate_tasks=["none", "m"]))
    assert type(space.mixtures["m"]) is type(expected) and space.mixtures["m"] == expected
    assert parse_space(space.model_dump(mode="json")) == space


def test_the_study_storage_has_its_own_name(tmp_path: Path) -> None:
    space = parse_space(tiny_space(tmp_path / "runs", search={"study_storage": "sqlite:///study.db"}))
    assert (space.storage, space.search.study_storage) == (str(tmp_path / "runs"), "sqlite:///study.db")


def test_every_phase_field_is_overridable_per_target_but_the_excluded() -> None:
    assert list(PhaseOverride.model_fields) == [f for f in PhaseConfig.model_fields if f not in NOT_OVERRIDABLE]
    assert set(PhaseConfig.model_fields) >= NOT_OVERRIDABLE  # an exclusion names a real field
    for name, field in PhaseOverride.model_fields.items():
        phase = PhaseConfig.model_fields[name]
        assert field.default is None and not field.is_required()
        assert (field.description, field.metadata) == (phase.description, phase.metadata)


def test_a_new_phase_field_becomes_overridable_without_a_second_edit() -> None:
    class Extended(PhaseConfig):
        label_smoothing: float = Field(0.0, ge=0, lt=1, description="a field added later")

    override = _optional_fields(Extended, "Override", "", NOT_OVERRIDABLE)
    assert override(label_smoothing=0.1).label_smoothing == 0.1 and override().label_smoothing is None
    with pytest.raises(ValidationError, match="less than 1"):
        override(label_smoothing=1.0)
    assert "equalise" not in override.model_fields


def test_an_override_length_replaces_the_other_length(tmp_path: Path) -> None:
    base = {**tiny_space(tmp_path)["target"], "max_steps": None, "epochs": 3}
    space = parse_space(tiny_space(tmp_path, target=base, target_overrides={"xnli": {"max_steps": 5}}))
    assert (space.target_phase("xnli").epochs, space.target_phase("xnli").max_steps) == (None, 5)
