"""An encoder plus a task head; the encoder moves between phases with a strict, checked load."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedTokenizerBase, XLMRobertaConfig, XLMRobertaModel

from raytl.errors import InputError
from raytl.models.hub import encoder_kwargs
from raytl.models.zoo import BUILT_TYPE_VOCAB, XLMR_POSITIONS, ModelEntry
from raytl.tasks.formats.base import Batch


class TaskModel(nn.Module):
    """`encoder` (any Hugging Face encoder) feeding one `head`; `forward` returns the head's logits."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, batch: Batch) -> torch.Tensor:
        # leading dims are flattened: a multiple-choice batch is [rows, choices, tokens]; its head folds them back
        tokens = batch["input_ids"].shape[-1]
        hidden = self.encoder(
            input_ids=batch["input_ids"].reshape(-1, tokens), attention_mask=batch["attention_mask"].reshape(-1, tokens)
        ).last_hidden_state
        return self.head(hidden, batch)


def build_encoder(entry: ModelEntry, tokenizer: PreTrainedTokenizerBase, seed: int) -> nn.Module:
    """The pretrained encoder (hub) or a freshly initialised tiny one (seeded, identical on every worker).

    Built inside `raytl.training.engine.model_construction`, both come out already partitioned under ZeRO-3.
    """
    if entry.hub_id is not None:
        return load_encoder_dir(entry.hub_id, entry, entry.revision)
    return random_encoder(entry, len(tokenizer), seed, pad_id=tokenizer.pad_token_id, bos_id=tokenizer.bos_token_id,
                          eos_id=tokenizer.eos_token_id)


def random_encoder(entry: ModelEntry, vocab_size: int, seed: int, pad_id: int = 1, bos_id: int = 0,
                   eos_id: int = 2) -> nn.Module:
    """An XLM-R of the entry's shape with seeded random weights, built from config (no download): the tiny models,
    and real-size shapes where no weights can be fetched (`python -m bench gpu`). Special ids default to XLM-R's.

    >>> from raytl.models.zoo import ZOO
    >>> random_encoder(ZOO["tiny"], vocab_size=100, seed=0).config.num_hidden_layers
    2
    """
    config = XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=entry.hidden_size,
        num_hidden_layers=entry.layers,
        num_attention_heads=entry.heads,
        intermediate_size=entry.intermediate_size,
        max_position_embeddings=XLMR_POSITIONS,
        type_vocab_size=BUILT_TYPE_VOCAB,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
    )
    torch.manual_seed(seed)
    # _from_config (not the constructor) is what enters deepspeed.zero.Init when ZeRO-3 is active, and
    # initialises the weights module by module with each module's parameters gathered
    return XLMRobertaModel._from_config(config, add_pooling_layer=False)


def load_encoder_dir(source: str | Path, entry: ModelEntry, revision: str | None = None) -> nn.Module:
    """A pretrained encoder from a hub id (at `revision`, None = main) or a model directory, every weight loaded
    (never a partial load).

    Safetensors weights are preferred; a checkpoint that ships only `pytorch_model.bin` (XLM-R XXL's main revision)
    is read with `torch.load(weights_only=True)`, which unpickles tensors and plain containers only: a `.bin` that
    holds any other object (code to run) is refused with an InputError, never executed. A phase store's encoder
    loads the same way: `load_encoder_dir("runs/q/phases/0123abcd", ZOO["tiny"])`.
    """
    remote = entry.trust_remote_code
    config = AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=remote)
    try:
        encoder, info = AutoModel.from_pretrained(
            source, config=config, revision=revision, output_loading_info=True, weights_only=True,
            **encoder_kwargs(config, remote),
        )
    except pickle.UnpicklingError as exc:
        lines = [line for line in str(exc).splitlines() if "GLOBAL" in line] or str(exc).splitlines()[:1]
        raise InputError(f"{source}: its .bin weights hold more than tensors and were refused, nothing in them ran "
                         f"({' '.join(lines) or type(exc).__name__}); allowed: safetensors weights, or a .bin of "
                         "tensors only") from None
    problems = {kind: keys for kind, keys in info.items() if keys and kind != "error_msgs"}
    if problems:
        raise RuntimeError(f"encoder from {source} is not loaded exactly: {problems}")
    return encoder

