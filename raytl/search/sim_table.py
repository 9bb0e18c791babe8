"""The transfer table `raytl simulate` reads: (model, intermediate, target) -> final score, plus how a trial's
learning curve gets there. Light to import (no Ray, no torch): simulated trials load it in every Tune actor.

CSV (a header row) or JSON (a list of objects), one row per (model, intermediate, target) of the space:

    model,intermediate,target,score,noise,lr_sensitivity,gap,tau
    large,mnli,xnli,79.1,0.4,3.0,25,0.25

`score` is the final zero-shot score (percent) at the default (geometric middle) learning rates; the optional
columns are `noise` (standard deviation of one evaluation, points, default 0), `lr_sensitivity` (points lost per
squared decade away from the default learning rate, for each searched rate, default 0), `gap` (how far below its
final score a trial starts, points, default 20), `tau` (the curve's time constant as a fraction of the target
phase's steps, default 0.25) and `prior` (a transferability score of the intermediate task for the target, higher
is better: what `search.prior` ranks by in a simulation). A target evaluated at step s of S steps scores
`final - gap * (exp(-s / (tau * S)) - exp(-1 / tau)) / (1 - exp(-1 / tau)) + N(0, noise)`: `gap` below `final` at
the start, `final` at the end of the phase.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from raytl.errors import InputError

KEYS = ("model", "intermediate", "target")


@dataclass(frozen=True)
class Cell:
    """One (model, intermediate, target): its final score and learning-curve shape."""

    score: float
    noise: float = 0.0
    lr_sensitivity: float = 0.0
    gap: float = 20.0
    tau: float = 0.25
    prior: float | None = None

    def final(self, lr_offsets: list[float]) -> float:
        """The final score at learning rates `lr_offsets` decades away from the defaults."""
        return self.score - self.lr_sensitivity * sum(offset**2 for offset in lr_offsets)

    def at(self, final: float, step: int, total: int, rng: random.Random) -> float:
        """One noisy evaluation after `step` of `total` target-phase steps: the curve starts `gap` below `final`
        and reaches it at the end of the phase, so a finished trial at the default rates sees the table's score.

        >>> cell = Cell(score=80.0, gap=25.0, tau=0.4)
        >>> [round(cell.at(80.0, step, 2000, random.Random(0)), 2) for step in (0, 1000, 2000)]
        [55.0, 74.43, 80.0]
        """
        if not total:
            return final + rng.gauss(0.0, self.noise)
        end = math.exp(-1.0 / self.tau)
        rise = (math.exp(-step / (self.tau * total)) - end) / (1.0 - end)
        return final - self.gap * rise + rng.gauss(0.0, self.noise)


@dataclass(frozen=True)
class TransferTable:
    """Every cell of a simulated search, keyed by (model, intermediate, target).

    >>> table = TransferTable.from_rows([{"model": "large", "intermediate": task, "target": "xnli", "score": score}
    ...                                  for task, score in [("none", 79.0), ("mnli", 81.5), ("qqp", 79.8)]])
    >>> table.best_intermediate("xnli", ["large"], ["none", "mnli", "qqp"])
    'mnli'

    `TransferTable.load("transfer.csv")` reads the same rows from a CSV or JSON file.
    """

    cells: dict[tuple[str, str, str], Cell]

    @classmethod
    def load(cls, path: str | Path) -> TransferTable:
        """Read a CSV or JSON table; raise `InputError` naming the file, the row and what is allowed."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such table file; allowed: a .csv or .json transfer table")
        rows = _read_rows(path)
        return cls.from_rows(rows, source=str(path))

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]], source: str = "table") -> TransferTable:
        cells: dict[tuple[str, str, str], Cell] = {}
        for number, row in enumerate(rows, start=1):
            key, cell = _parse_row(row, f"{source}: row {number}")
            if key in cells:
                raise InputError(f"{source}: row {number}: duplicate {dict(zip(KEYS, key, strict=True))}")
            cells[key] = cell
        return cls(cells)

    def rows(self) -> list[dict[str, Any]]:
        """The table as rows (the CSV/JSON layout)."""
        return [{**dict(zip(KEYS, key, strict=True)), **vars(cell)} for key, cell in self.cells.items()]

    def save(self, path: str | Path) -> None:
        """Write the table as CSV (`.csv`) or JSON (anything else)."""
        path, rows = Path(path), self.rows()
        if path.suffix == ".csv":
            with path.open("w", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        else:
            path.write_text(json.dumps(rows, indent=1))

    def cell(self, model: str, intermediate: str, target: str) -> Cell:
        return self.cells[(model, intermediate, target)]

    def missing(self, models: list[str], intermediates: list[str], targets: list[str]) -> list[tuple[str, str, str]]:
        """The (model, intermediate, target) combinations of a space that the table lacks."""
        wanted = [(m, i, t) for m in models for i in intermediates for t in targets]
        return [key for key in wanted if key not in self.cells]

    def best_intermediate(self, target: str, models: list[str], intermediates: list[str]) -> str:
        """The intermediate task of the highest-scoring (model, intermediate) for `target`, at default rates."""
        scores = {(m, i): self.cell(m, i, target).score for m in models for i in intermediates}
        return max(scores, key=scores.__getitem__)[1]


def evaluation_rng(*parts: object) -> random.Random:
    """A random stream fixed by `parts` in every process (Python's hash() is salted per process)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        if path.suffix == ".csv":
            with path.open(newline="") as source:
                return list(csv.DictReader(source))
        rows = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable table ({exc}); allowed: CSV with a header row or a JSON list") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise InputError(f"{path}: a JSON table is a list of objects with keys {', '.join(KEYS)}, score")
    return rows


def _parse_row(row: dict[str, Any], where: str) -> tuple[tuple[str, str, str], Cell]:
    allowed = [*KEYS, *(f.name for f in fields(Cell))]
    unknown = [key for key in row if key not in allowed]
    if unknown:
        raise InputError(f"{where}: unknown column(s) {', '.join(map(str, unknown))}; allowed: {', '.join(allowed)}")
    missing = [key for key in (*KEYS, "score") if row.get(key) in (None, "")]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}; required: {', '.join(KEYS)}, score")
    values = {}
    for name, value in row.items():
        if name in KEYS or value in (None, ""):
            continue
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{where}: {name} = {value!r} is not a number") from None
    for name in ("noise", "lr_sensitivity", "gap"):
        if values.get(name, 0.0) < 0:
            raise InputError(f"{where}: {name} = {values[name]:g}; allowed: >= 0")
    if values.get("tau", 1.0) <= 0:
        raise InputError(f"{where}: tau = {values['tau']:g}; allowed: > 0 (a fraction of the target phase's steps)")
    key = (str(row["model"]), str(row["intermediate"]), str(row["target"]))
    return key, Cell(**values)
