"""Command-line mistakes: the CLI library's short usage message and exit 2, never a traceback; `raytl report` on
a directory that is not a run refuses in one line and writes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def raytl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raytl", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    ((), "Usage:"),  # no command: the help, as a usage error
    (("bogus",), "No such command 'bogus'"),
    (("search", "--bogus", "x"), "No such option: --bogus"),
    (("search",), "Missing argument 'SPACE_FILE'"),
    (("rerun", "runs/x"), "Missing option '--trial'"),
    (("report",), "Missing argument 'RUN_DIR'"),
])
def test_usage_mistakes_exit_2_without_a_traceback(args: tuple[str, ...], message: str) -> None:
    done = raytl(*args)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out and "Exception" not in out and len(out.splitlines()) < 45, out
    assert message.lower() in out.lower(), out


def test_report_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a run")
    done = raytl("report", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path}: not a run directory (no space.yaml inside); "
                                                "allowed: a directory `raytl search` made"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"], "nothing written"
