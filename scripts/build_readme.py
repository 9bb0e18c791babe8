"""Assemble README.md from the sections in docs/readme/ (each owned by the part of the code it documents).

Run `python scripts/build_readme.py` after editing a section; tests/test_readme.py checks README.md is current.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["overview", "tasks", "span_qa", "metrics", "search", "simulate", "rank", "scale", "report", "clusters",
         "fault_tolerance", "bench", "status"]


def assemble() -> str:
    sections = [ROOT / "docs" / "readme" / f"{name}.md" for name in ORDER]
    return "\n".join(path.read_text().rstrip() + "\n" for path in sections if path.is_file())


if __name__ == "__main__":
    (ROOT / "README.md").write_text(assemble())
    sys.exit(0)
