"""Formats by name: the one place a task's `format` is dispatched."""

from __future__ import annotations

from raytl.tasks.formats import classification, mlm, multiple_choice, retrieval, span_qa, tagging
from raytl.tasks.formats.base import Format

FORMATS: dict[str, Format] = {
    classification.FORMAT.name: classification.FORMAT,
    span_qa.FORMAT.name: span_qa.FORMAT,
    tagging.FORMAT.name: tagging.FORMAT,
    multiple_choice.FORMAT.name: multiple_choice.FORMAT,
    mlm.FORMAT.name: mlm.FORMAT,
    retrieval.FORMAT.name: retrieval.FORMAT,  # no training: head/loss/decode unused (trains = False)
}
