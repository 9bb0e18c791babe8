"""Formats by name: the one place a task's `format` is dispatched."""

from __future__ import annotations

from raytl.tasks.formats import classification, span_qa
from raytl.tasks.formats.base import Format

FORMATS: dict[str, Format] = {
    classification.FORMAT.name: classification.FORMAT,
    span_qa.FORMAT.name: span_qa.FORMAT,
}
