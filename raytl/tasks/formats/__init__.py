"""Formats by name: the one place a task's `format` is dispatched."""

from __future__ import annotations

from raytl.tasks.formats import classification, mlm, multiple_choice, retrieval, span_qa, tagging
from raytl.tasks.formats.base import Format, TargetPhase

FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (classification.FORMAT, span_qa.FORMAT, tagging.FORMAT, multiple_choice.FORMAT, mlm.FORMAT,
                retrieval.NEAREST_NEIGHBOUR, retrieval.BITEXT_MINING)
}

__all__ = ["FORMATS", "Format", "TargetPhase"]
