"""Bad input fails at the edge: exit status 2, one line naming file, key path and what is allowed, fast."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from raytl.config import LogRange, PhaseConfig
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
