"""Data-parallel training through torchrun: process group set-up and the few collectives training needs.

``torchrun --nproc_per_node=N -m nmt train CONFIG`` starts N processes with RANK/WORLD_SIZE/LOCAL_RANK set;
each trains on its own share of every step's batches, DistributedDataParallel averages the gradients (gloo on
CPU, NCCL on GPU), and only rank 0 writes checkpoints, metrics and progress. Without torchrun, world size is 1
and every helper here is a no-op.

Host-side values (token counts, stop flags) travel as CPU tensors through a gloo group: through NCCL they
would be CUDA tensors, and reading one back (``.item()``) makes the CPU wait for every queued GPU kernel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    host: object | None = field(default=None, compare=False)  # process group for host-side values (None: default)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init(device: torch.device) -> Dist:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    host = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
    return Dist(rank, world, local_rank, host)


def pick_local_device(device: torch.device, d: Dist) -> torch.device:
    """On CUDA, each process takes the GPU of its local rank."""
    if device.type == "cuda" and d.enabled:
        torch.cuda.set_device(d.local_rank)
        return torch.device("cuda", d.local_rank)
    return device


def sum_int(value: int, d: Dist) -> int:
    """Sum an integer over all processes (e.g. target tokens, so that loss normalisation is global)."""
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.long)
    dist.all_reduce(t, group=d.host)
    return int(t.item())


def sum_tensor(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """Sum a tensor over all processes (a copy; the input is left as it is)."""
    if not d.enabled:
        return t
    out = t.clone()
    dist.all_reduce(out)
    return out


def any_true(flag: bool, d: Dist) -> bool:
    """True on every process when it is true on any (a stop signal somewhere)."""
    if not d.enabled:
        return flag
    t = torch.tensor([int(flag)])
    dist.all_reduce(t, group=d.host)
    return bool(t.item())


def broadcast_flag(flag: bool, d: Dist) -> bool:
    """Rank 0's decision, on every process."""
    if not d.enabled:
        return flag
    t = torch.tensor([int(flag)])
    dist.broadcast(t, src=0, group=d.host)
    return bool(t.item())


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def shutdown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
