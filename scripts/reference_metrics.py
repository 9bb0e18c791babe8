"""docs/reference/metrics.md: every metric of raytl/tasks/metrics.py, what it computes (its docstring) and which
catalog tasks report it."""

from __future__ import annotations

from raytl.tasks import TASKS
from raytl.tasks.metrics import METRICS
from scripts.markdown_text import paragraphs, table

INTRO = """# Metrics

Generated from `raytl/tasks/metrics.py` and the catalog by `python -m scripts.gen_reference`. A metric is a function
`fn(predictions, references, language) -> {name: value in percent}`, computed as XTREME's official scripts compute
it; the traps (UD-POS is seqeval F1, MLQA's normalisation, unweighted language averages) are in the guide
"Scoring XTREME predictions".
"""


def page() -> str:
    rows = []
    for name, function in METRICS.items():
        tasks = [f"`{task.name}`" for task in TASKS.values() if task.metric == name]
        rows.append([f"`{name}`", ", ".join(tasks) or "none in the catalog", paragraphs(function.__doc__ or "")[0]])
    return INTRO + "\n" + table(["metric", "reported by", "what it computes"], rows)
