"""The forward passes `raytl rank` makes: frozen encoder features of encoded training rows, no gradients.

- `mean_embeddings`: SEmb's sentence embedding, the mean of `hidden_states[layer]` over a row's real tokens (a
  multiple-choice row: the mean of its choices' embeddings).
- `logme_view`: what LogME scores for a target of a given format, the features its head reads with their labels:
  classification, the first token (`<s>`, where RoBERTa's classification head reads); tagging, every token with a
  label (first sub-words), as token-level LogME does. Other formats (span QA, multiple choice, retrieval) have no
  such view here and are reported as not scored.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from raytl.tasks.formats.base import IGNORE_INDEX
from raytl.training.batching import collate, sorted_batches

BATCH_SIZE = 64


def _flat(rows: list[dict]) -> tuple[list[dict], np.ndarray]:
    """Rows as single sequences (a multiple-choice row becomes one per choice) and the row each came from."""
    sequences, owners = [], []
    for index, row in enumerate(rows):
        ids = row["input_ids"]
        for sequence in ids if ids and isinstance(ids[0], list) else [ids]:
            sequences.append({**row, "input_ids": sequence})
            owners.append(index)
    return sequences, np.asarray(owners)


@torch.no_grad()
def _passes(encoder: torch.nn.Module, rows: list[dict], pad_id: int, layer: int, keys: tuple[str, ...],
            read: Callable[[torch.Tensor, dict[str, torch.Tensor]], tuple[np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray]:
    """`read(hidden_states[layer], batch)` -> (features, per-feature row index in the batch) over length-sorted
    batches; returns every feature with the index of the row it belongs to."""
    encoder.eval()
    device = next(encoder.parameters()).device
    features, owners = [], []
    for indices in sorted_batches([len(row["input_ids"]) for row in rows], BATCH_SIZE):
        batch = {name: value.to(device) for name, value in
                 collate([rows[int(i)] for i in indices], pad_id, keys).items()}
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         output_hidden_states=True).hidden_states[layer].float()
        values, in_batch = read(hidden, batch)
        features.append(values)
        owners.append(indices[in_batch])
    return np.concatenate(features), np.concatenate(owners)


def mean_embeddings(encoder: torch.nn.Module, rows: list[dict], pad_id: int, layer: int) -> np.ndarray:
    """One embedding per row: the mean of `hidden_states[layer]` over its real tokens (of a multiple-choice row: the
    mean of its choices' means)."""
    sequences, owners = _flat(rows)

    def read(hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return ((hidden * mask).sum(1) / mask.sum(1)).cpu().numpy(), np.arange(len(hidden))

    pooled, order = _passes(encoder, sequences, pad_id, layer, (), read)
    sums = np.zeros((len(rows), pooled.shape[1]))
    np.add.at(sums, owners[order], pooled)
    return sums / np.bincount(owners, minlength=len(rows))[:, None]


def _first_token(hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    return hidden[:, 0].cpu().numpy(), np.arange(len(hidden))


def _labelled_tokens(hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    rows, tokens = torch.nonzero(batch["labels"] != IGNORE_INDEX, as_tuple=True)
    return hidden[rows, tokens].cpu().numpy(), rows.cpu().numpy()


def _row_labels(rows: list[dict], owners: np.ndarray) -> np.ndarray:
    return np.asarray([rows[int(i)]["labels"] for i in owners])


def _token_labels(rows: list[dict], owners: np.ndarray) -> np.ndarray:
    """Token features come row by row (batch order), each row's in token order: so do their labels."""
    return np.concatenate([[v for v in rows[int(i)]["labels"] if v != IGNORE_INDEX] for i in _runs(owners)])


def _runs(owners: np.ndarray) -> list[int]:
    """Each row index once, in the order its run of features appears."""
    return [int(owners[i]) for i in range(len(owners)) if i == 0 or owners[i] != owners[i - 1]]


VIEWS = {  # format -> (what is read from the last layer, the labels of what was read)
    "classification": (_first_token, _row_labels),
    "tagging": (_labelled_tokens, _token_labels),
}


def logme_view(encoder: torch.nn.Module, rows: list[dict], pad_id: int, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of the target's rows as its head would read them (last layer); KeyError for a format
    without a view (see the module docstring)."""
    read, labels = VIEWS[fmt]
    features, owners = _passes(encoder, rows, pad_id, -1, ("labels",), read)
    return features, labels(rows, owners)
