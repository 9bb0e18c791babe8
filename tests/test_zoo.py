"""Model zoo and DeepSpeed at scale: hub encoders by name, settings resolution, the DeepSpeed JSON, and (slow) a tiny
model built partitioned under ZeRO-3 on 2 CPU processes that trains, publishes, and reloads exactly."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaXLConfig

from raytl.config import DeepSpeedConfig, parse_space
from raytl.errors import InputError
from raytl.models.hub import count_params
from raytl.models.zoo import ZOO, resolve_model
from raytl.search.plan import load_checked
from raytl.training.engine import deepspeed_config
from raytl.training.settings import DeepSpeedSettings, batch_config, resolve_settings
from tests.conftest import tiny_space, write_space


def save_tiny_hub_model(directory: Path, hidden: int = 32, layers: int = 2) -> XLMRobertaModel:
    """A local 'hub' model directory: config, safetensors weights and the tiny tokenizer."""
    from raytl.models.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(ZOO["tiny"])
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                              num_attention_heads=2, intermediate_size=2 * hidden, type_vocab_size=1,
                              pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = XLMRobertaModel(config, add_pooling_layer=False)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return model


def test_zoo_params_are_the_exact_encoder_sizes() -> None:
    configs = {
        "large": XLMRobertaConfig(vocab_size=250_002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                  intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1),
        "base": XLMRobertaConfig(vocab_size=250_002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                 intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1),
        # XL and XXL are pre-LayerNorm (their hub config's model type is xlm-roberta-xl): the same count
        "xl": XLMRobertaXLConfig(vocab_size=250_880, hidden_size=2560, num_hidden_layers=36, num_attention_heads=32,
                                 intermediate_size=10_240, max_position_embeddings=514, type_vocab_size=1),
        "xxl": XLMRobertaXLConfig(vocab_size=250_880, hidden_size=4096, num_hidden_layers=48, num_attention_heads=32,
                                  intermediate_size=16_384, max_position_embeddings=514, type_vocab_size=1),
    }
    for name, config in configs.items():
        assert count_params(config) == ZOO[name].params


def test_tiny_params_are_the_built_encoders_sizes() -> None:
    """What reports plot and plans price: the count of the encoder `build_encoder` makes, tokenizer included."""
    from raytl.models.task_model import build_encoder
    from raytl.models.tokenizer import load_tokenizer

    for name in ("tiny", "tiny4"):
        entry = ZOO[name]
        tokenizer = load_tokenizer(entry)
        encoder = build_encoder(entry, tokenizer, seed=0)
        assert len(tokenizer) == entry.vocab_size
        assert sum(p.numel() for p in encoder.parameters()) == entry.params > 0


def test_hub_model_resolves_from_a_local_directory(tmp_path: Path) -> None:
    model = save_tiny_hub_model(tmp_path / "m")
    entry = resolve_model(f"hub:{tmp_path / 'm'}")
    assert entry.hub_id == str(tmp_path / "m") and not entry.built_from_config
    assert (entry.hidden_size, entry.layers, entry.heads, entry.intermediate_size) == (32, 2, 2, 64)
    assert entry.params == sum(p.numel() for p in model.parameters())
    assert entry.zero_stage == 2 and entry.precision == "bf16" and entry.trust_remote_code is False
    assert resolve_model(f"hub:{tmp_path / 'm'}", trust_remote_code=True).trust_remote_code is True


def test_hub_encoder_and_tokenizer_load_exactly(tmp_path: Path) -> None:
    from raytl.models.task_model import build_encoder
    from raytl.models.tokenizer import load_tokenizer

    model = save_tiny_hub_model(tmp_path / "m")
    entry = resolve_model(f"hub:{tmp_path / 'm'}")
    tokenizer = load_tokenizer(entry)
    loaded = build_encoder(entry, tokenizer, seed=1)
    assert tokenizer("hello").input_ids[0] == tokenizer.bos_token_id
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_unknown_names_fail() -> None:
    with pytest.raises(KeyError, match="unknown model 'huge'; allowed: tiny"):
        resolve_model("huge")
    with pytest.raises(KeyError):
        resolve_model("hub:")


def test_edge_accepts_hub_names_and_checks_trust(tmp_path: Path) -> None:
    save_tiny_hub_model(tmp_path / "m")
    hub = f"hub:{tmp_path / 'm'}"
    path = write_space(tmp_path / "s.yaml", tiny_space(tmp_path / "runs", models=["tiny", hub]))
    assert load_checked(path).models == ["tiny", hub]
    bad = write_space(tmp_path / "b.yaml", tiny_space(tmp_path / "runs", models=["tiny", "hub:/no/such/model"]))
    with pytest.raises(InputError, match=r"models: cannot read hub model 'hub:/no/such/model'"):
        load_checked(bad)
    with pytest.raises(InputError, match="trust_remote_code: 'base' is not in models"):
        parse_space(tiny_space(tmp_path, trust_remote_code=["base"]), models=list(ZOO))


def test_batch_divides_or_fails_clearly(tmp_path: Path) -> None:
    assert batch_config(32, 4, 2) == {"train_batch_size": 32, "train_micro_batch_size_per_gpu": 4,
                                      "gradient_accumulation_steps": 4}
    with pytest.raises(ValueError, match="batch_size 32 is not a multiple of micro_batch_size 3 x 2 workers = 6"):
        batch_config(32, 3, 2)
    space = tiny_space(tmp_path)
    space["intermediate"]["micro_batch_size"] = 3
    with pytest.raises(InputError, match="intermediate: batch_size 16 is not a multiple of micro_batch_size 3 x "
                                         "num_workers 2 = 6"):
        parse_space(space)


def test_settings_follow_the_entry_and_the_device() -> None:
    auto = DeepSpeedConfig()
    xl = resolve_settings(auto, ZOO["xl"], world=8, batch_size=32, micro_batch=2, on_gpu=True)
    assert (xl.zero_stage, xl.precision, xl.micro_batch) == (3, "bf16", 2)
    large = resolve_settings(auto, ZOO["large"], world=4, batch_size=32, micro_batch=None, on_gpu=True)
    assert (large.zero_stage, large.micro_batch) == (2, 8)
    v100 = resolve_settings(auto, ZOO["large"], 4, 32, None, on_gpu=True, bf16_supported=False)
    assert v100.precision == "fp16"
    with pytest.raises(ValueError, match="bf16 is not supported by this GPU"):
        resolve_settings(DeepSpeedConfig(precision="bf16"), ZOO["large"], 4, 32, None, on_gpu=True,
                         bf16_supported=False)
    assert resolve_settings(auto, ZOO["xxl"], 8, 32, 1, on_gpu=False).precision == "fp32"


def test_deepspeed_json_for_zero3_offload_and_accumulation() -> None:
    settings = DeepSpeedSettings(3, "nvme", "bf16", world=8, micro_batch=1, nvme_path="/local_nvme",
                                 hidden_size=4096)
    config = deepspeed_config(settings, batch_size=32, lr=1e-5, total_steps=100, warmup_steps=10, grad_clip=1.0)
    zero = config["zero_optimization"]
    assert config["gradient_accumulation_steps"] == 4 and config["bf16"] == {"enabled": True}
    assert zero["offload_optimizer"] == {"device": "nvme", "nvme_path": "/local_nvme"} == zero["offload_param"]
    assert zero["reduce_bucket_size"] == 4096 * 4096 and zero["stage3_param_persistence_threshold"] == 40960
    assert config["gradient_clipping"] == 1.0 and config["scheduler"]["params"]["warmup_num_steps"] == 10
    with pytest.raises(ValueError, match="nvme needs deepspeed.nvme_path"):
        deepspeed_config(DeepSpeedSettings(2, "nvme", "bf16", 8, 1), 32, 1e-5, 100, 10, 1.0)
    with pytest.raises(ValueError, match="offload: nvme needs nvme_path"):
        DeepSpeedConfig(offload="nvme")


# --- slow: ZeRO-3 on 2 CPU processes ---------------------------------------------------------------------------


def _zero3_worker(rank: int, world: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    from safetensors.torch import save_file

    import raytl.pipeline.context as context
    from raytl.config import SearchSpace
    from raytl.models.task_model import TaskModel
    from raytl.pipeline.intermediate_phase import obtain_intermediate
    from raytl.pipeline.phase_id import TrialParams
    from raytl.pipeline.run_dir import RunDir
    from raytl.tasks import TASKS
    from raytl.tasks.formats import FORMATS
    from raytl.tasks.labels import with_labels
    from raytl.training.distributed import Ranks
    from raytl.training.engine import Engine, is_partitioned

    engines: list[Engine] = []

    class Recording(Engine):
        def __init__(self, model: torch.nn.Module, config: dict, weight_decay: float) -> None:
            partitioned.append(is_partitioned(model.encoder))
            super().__init__(model, config, weight_decay)
            engines.append(self)

    partitioned: list[bool] = []
    context.Engine = Recording  # type: ignore[misc]
    space = SearchSpace.model_validate(json.loads(Path(tmp, "space.json").read_text()))
    trial = context.TrialContext(space, TrialParams("tiny", "mnli", 2e-3, 2e-3), Ranks(rank, world),
                                 RunDir(Path(tmp) / "run"), "t0")
    published = obtain_intermediate(trial)
    trained = engines[0].state_dict_of("encoder")
    # the target phase's way in: the published encoder loaded under ZeRO-3 (from_pretrained, partitioned)
    task = with_labels(TASKS["xnli"], space.data)
    head = FORMATS[task.format].head
    def build() -> TaskModel:
        encoder = context.load_encoder(trial, published)
        return TaskModel(encoder, head(encoder.config, task))

    engine = context.make_engine(trial, build, space.target, 2e-3, total=space.target.max_steps or 1)
    reloaded = engine.state_dict_of("encoder")
    if rank == 0:
        save_file(trained, Path(tmp, "trained.safetensors"))
        save_file(reloaded, Path(tmp, "reloaded.safetensors"))
        Path(tmp, "result.json").write_text(json.dumps({"partitioned": partitioned, "published": str(published)}))
    torch.distributed.barrier()  # neither rank tears gloo down while the other still talks to it
    torch.distributed.destroy_process_group()


def _spawn_two(worker, tmp_path: Path) -> None:
    """Run `worker(rank, 2, port, tmp)` in two spawned processes that form a gloo group on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torch.multiprocessing.start_processes(worker, args=(2, port, str(tmp_path)), nprocs=2, start_method="spawn")


@pytest.mark.slow
def test_zero3_tiny_model_built_partitioned_trains_and_reloads_exactly(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from raytl.models.task_model import build_encoder, load_encoder_dir
    from raytl.models.tokenizer import load_tokenizer

    space = parse_space(tiny_space(tmp_path / "runs", deepspeed={"zero_stage": 3}))
    (tmp_path / "space.json").write_text(space.model_dump_json())
    _spawn_two(_zero3_worker, tmp_path)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["partitioned"] == [True, True], "ZeRO-3 models must be constructed partitioned"
    trained = load_file(tmp_path / "trained.safetensors")
    published = load_encoder_dir(result["published"], ZOO["tiny"]).state_dict()
    initial = build_encoder(ZOO["tiny"], load_tokenizer(ZOO["tiny"]), seed=0).state_dict()
    assert set(published) == set(trained)
    assert all(torch.equal(published[name], trained[name]) for name in trained), "publish/reload is not exact"
    assert not all(torch.equal(initial[name], trained[name]) for name in trained), "nothing was trained"
    reloaded = load_file(tmp_path / "reloaded.safetensors")
    assert all(torch.equal(reloaded[name], trained[name]) for name in trained), "ZeRO-3 from_pretrained not exact"


def test_trust_remote_code_reaches_the_loaders_only_for_named_models(tmp_path: Path) -> None:
    from raytl.models.hub import encoder_kwargs
    from raytl.pipeline.context import TrialContext
    from raytl.pipeline.phase_id import TrialParams
    from raytl.pipeline.run_dir import RunDir
    from raytl.training.distributed import Ranks

    save_tiny_hub_model(tmp_path / "m")
    hub = f"hub:{tmp_path / 'm'}"
    config = XLMRobertaConfig()
    assert encoder_kwargs(config, False) == {"add_pooling_layer": False}
    assert encoder_kwargs(config, True) == {"add_pooling_layer": False, "trust_remote_code": True}
    for trusted in ([], [hub]):
        space = parse_space(tiny_space(tmp_path, models=["tiny", hub], trust_remote_code=trusted))
        worker = TrialContext(space, TrialParams(hub, "none", 0.0, 1e-3), Ranks(0, 1), RunDir(tmp_path), "t")
        assert worker.entry.trust_remote_code is bool(trusted)


def _zero3_bf16_worker(rank: int, world: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    from raytl.config import DeepSpeedConfig
    from raytl.models.task_model import TaskModel, build_encoder
    from raytl.models.tokenizer import load_tokenizer
    from raytl.tasks import TASKS
    from raytl.tasks.formats import FORMATS
    from raytl.training.engine import Engine, deepspeed_config, model_construction
    from raytl.training.settings import resolve_settings

    entry, task = ZOO["tiny"], TASKS["xnli"]
    settings = resolve_settings(DeepSpeedConfig(zero_stage=3, offload="none", precision="bf16"), entry, world, 4,
                                None, on_gpu=True)  # what a bf16 GPU resolves to (the default for xl/xxl)
    config = deepspeed_config(settings, 4, 1e-3, 2, 1, 1.0)
    with model_construction(config):
        encoder = build_encoder(entry, load_tokenizer(entry), seed=0)
        model = TaskModel(encoder, FORMATS[task.format].head(encoder.config, task))
    engine = Engine(model, config, weight_decay=0.01)  # DeepSpeed asserted on the fp32 head before the cast
    generator = torch.Generator().manual_seed(rank)
    batch = {"input_ids": torch.randint(5, 100, (2, 12), generator=generator),
             "attention_mask": torch.ones(2, 12, dtype=torch.long), "labels": torch.tensor([0, 2])}
    loss = engine.train_step([batch], FORMATS[task.format].loss)
    dtypes = sorted({str(p.ds_tensor.dtype) for p in engine.ds.module.parameters()})
    if rank == 0:
        Path(tmp, "bf16.json").write_text(json.dumps({"loss": loss, "dtypes": dtypes}))
    torch.distributed.barrier()  # neither rank tears gloo down while the other still talks to it
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_zero3_bf16_trains_with_a_head_built_outside_zero_init(tmp_path: Path) -> None:
    _spawn_two(_zero3_bf16_worker, tmp_path)
    result = json.loads((tmp_path / "bf16.json").read_text())
    assert result["dtypes"] == ["torch.bfloat16"] and 0 < result["loss"] < 10
