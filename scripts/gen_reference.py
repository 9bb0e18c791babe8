"""Write docs/reference/ from the code: the search-space keys (raytl/config), the commands (raytl/cli.py), the
tasks (raytl/tasks/catalog.py), the model zoo (raytl/models/zoo.py) and the metrics (raytl/tasks/metrics.py).
Run `python -m scripts.gen_reference` from the repository root after changing any of them; tests/test_docs_site.py
fails while a page is stale."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scripts import reference_cli, reference_keys, reference_metrics, reference_models, reference_tasks

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
PAGES: dict[str, Callable[[], str]] = {
    "keys.md": reference_keys.page,
    "cli.md": reference_cli.page,
    "tasks.md": reference_tasks.page,
    "models.md": reference_models.page,
    "metrics.md": reference_metrics.page,
}


def pages() -> dict[Path, str]:
    """Each generated page's path and its text, as the code stands."""
    return {REFERENCE / name: render() for name, render in PAGES.items()}


def main() -> None:
    for path, text in pages().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"written: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
