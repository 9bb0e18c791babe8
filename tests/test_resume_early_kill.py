"""`raytl resume` on a run whose `raytl search` died before Tune saved anything (killed while Ray was starting:
found by `python -m bench chaos`, fault `driver_kill` 31 s into the search). space.yaml is there, tune/ is not, no
trial ran: the search starts from its space. Before, resume refused it as "not a run directory" and the run was
stuck (a new `raytl search` under the same name was the only way on)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from raytl.config import parse_space
from raytl.errors import InputError
from tests.conftest import tiny_space


def test_resume_before_the_first_trial_starts_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from raytl import cli
    from raytl.search import modes

    run = tmp_path / "runs" / "early"
    run.mkdir(parents=True)
    space = parse_space(tiny_space(tmp_path / "runs", name="early"))
    (run / "space.yaml").write_text(yaml.safe_dump(space.model_dump(mode="json"), sort_keys=False))
    started, continued = [], []
    monkeypatch.setattr(modes, "start_search", lambda space, run: started.append(run) or pd.DataFrame())
    monkeypatch.setattr(modes, "continue_search", lambda space, run: continued.append(run) or pd.DataFrame())
    monkeypatch.setattr(cli, "_print_results", lambda table, run: None)

    cli.resume(str(run))
    assert [str(r.location) for r in started] == [str(run)] and continued == []
    assert "stopped before its first trial" in capsys.readouterr().out

    (run / "tune").mkdir()  # once Tune saved its state, resume restores it as before
    cli.resume(str(run))
    assert len(started) == 1 and [str(r.location) for r in continued] == [str(run)]


def test_resume_still_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    from raytl import cli

    with pytest.raises(InputError, match="not a run directory"):
        cli.resume(str(tmp_path))
