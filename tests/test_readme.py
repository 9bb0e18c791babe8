"""README.md is assembled from docs/readme/: it must be current, and its commands must exist."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def test_readme_is_assembled_from_its_sections() -> None:
    spec = importlib.util.spec_from_file_location("build_readme", ROOT / "scripts" / "build_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "README.md").read_text() == module.assemble(), "run: python scripts/build_readme.py"


def test_readme_setup_commands_exist() -> None:
    text = (ROOT / "README.md").read_text()
    for script in ("scripts/quickstart.sh", "scripts/test.sh"):
        assert f"bash {script}" in text and (ROOT / script).is_file()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
