"""Process groups and ranks: a local group for DeepSpeed engines outside Ray Train, and the one rank helper the
pipeline uses (who am I, and the few collectives it needs)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@contextlib.contextmanager
def single_process_group() -> Iterator[None]:
    """A gloo group of this process alone, for DeepSpeed engines outside Ray Train (`raytl rank`, tests), unless a
    group is already up. On exit the group is destroyed and DeepSpeed forgets the groups it cached from it, so a
    later group in the same process starts clean."""
    if dist.is_initialized():
        yield
        return
    with process_group(rank=0, world=1, port=free_port()):
        yield


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the rendezvous of a local group)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def process_group(rank: int, world: int, port: int, backend: str = "gloo") -> Iterator[None]:
    """This process as rank `rank` of a local group of `world` processes meeting on `port` (`nccl` for one GPU per
    process: `python -m bench gpu`), destroyed on exit as `single_process_group`'s is."""
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank), "WORLD_SIZE": str(world),
           "LOCAL_RANK": str(rank)}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        yield
    finally:
        dist.destroy_process_group()
        _forget_deepspeed_groups()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _forget_deepspeed_groups() -> None:
    """DeepSpeed keeps its communication backend and process groups in module globals; after the group they came
    from is destroyed they are stale ("group is not registered")."""
    import deepspeed.comm.comm as ds_comm
    from deepspeed.utils import groups

    ds_comm.cdb = None
    for name, value in vars(groups).items():
        if name.isupper() and name.startswith("_") and name.endswith(("_GROUP", "_GROUP_RANKS")):
            setattr(groups, name, {} if isinstance(value, dict) else None)


@dataclass(frozen=True)
class Ranks:
    """The one rank helper: who am I, and the few collectives the pipeline needs (no-ops on one process)."""

    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's value on every rank."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's value, in rank order, on every rank."""
        if self.world == 1:
            return [value]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, value)
        return out


