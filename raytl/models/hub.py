"""The sizes of any Hugging Face encoder, read from its config (hub id or local model directory).

Parameters are counted exactly by building the model on the meta device (no weights are allocated or downloaded).
"""

from __future__ import annotations

import inspect

import torch
from transformers import AutoConfig, AutoModel, PretrainedConfig


def dimensions(hub_id: str, trust_remote_code: bool, revision: str | None = None) -> dict[str, int]:
    """Read `hub_id`'s config (at `revision`, None = main): its exact parameter count and sizes, the fields a
    `raytl.models.zoo.ModelEntry` needs. Raises OSError/ValueError when it cannot be read.

    >>> from transformers import XLMRobertaConfig
    >>> XLMRobertaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
    ...                  intermediate_size=128).save_pretrained("/tmp/raytl-doc/encoder")  # a config, no weights
    >>> sizes = dimensions("/tmp/raytl-doc/encoder", False)
    >>> sizes["layers"], sizes["params"]
    (3, 197440)
    """
    config = AutoConfig.from_pretrained(hub_id, revision=revision, trust_remote_code=trust_remote_code)
    return {
        "params": count_params(config, trust_remote_code),
        "hidden_size": _first(config, "hidden_size", "d_model"),
        "layers": _first(config, "num_hidden_layers", "num_layers"),
        "heads": _first(config, "num_attention_heads", "num_heads"),
        "intermediate_size": _first(config, "intermediate_size", "d_ff"),
        "vocab_size": _first(config, "vocab_size"),
    }


def encoder_kwargs(config: PretrainedConfig, trust_remote_code: bool) -> dict[str, object]:
    """Keyword arguments for `AutoModel`: no pooler where the architecture has one (the heads pool themselves)."""
    model_class = AutoModel._model_mapping.get(type(config), None)
    kwargs: dict[str, object] = {"trust_remote_code": trust_remote_code} if trust_remote_code else {}
    if model_class is not None and "add_pooling_layer" in inspect.signature(model_class.__init__).parameters:
        kwargs["add_pooling_layer"] = False
    return kwargs


def count_params(config: PretrainedConfig, trust_remote_code: bool = False) -> int:
    """Exact parameter count of the encoder `AutoModel` builds from `config` (built on the meta device)."""
    with torch.device("meta"):
        model = AutoModel.from_config(config, **encoder_kwargs(config, trust_remote_code))
    return sum(param.numel() for param in model.parameters())


def _first(config: PretrainedConfig, *names: str) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    raise ValueError(f"model config {type(config).__name__} has none of {', '.join(names)}")
