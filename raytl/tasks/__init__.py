"""Tasks: declarative entries (this package's import is light: no torch, no datasets)."""

from raytl.tasks.catalog import INTERMEDIATE_TASKS, TARGET_TASKS, TASK_SOURCES, TASKS
from raytl.tasks.entry import HubSource, Task

__all__ = ["INTERMEDIATE_TASKS", "TARGET_TASKS", "TASK_SOURCES", "TASKS", "HubSource", "Task"]
