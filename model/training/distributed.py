"""torchrun support: join the process group, know your rank, and sum metrics across processes.

`torchrun --nproc-per-node N train.py ...` sets WORLD_SIZE, RANK and LOCAL_RANK; a plain
`python train.py` sees none of them and runs as a group of one, where every helper here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist

# A process that dies or hangs must not stall the others forever: collectives time out.
TIMEOUT = timedelta(seconds=int(os.environ.get("TINYVGG_DIST_TIMEOUT", 600)))


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in the group; `world_size == 1` means not distributed."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files, prints and pushes."""
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of `values` over all processes (every process gets the result)."""
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process if it is true on any one (so all stop at the same step)."""
        return self.sum([float(flag)])[0] > 0

    def share_buffers(self, model: torch.nn.Module) -> None:
        """Give every process rank 0's buffers (BatchNorm statistics), which DDP keeps only roughly in sync."""
        if self.enabled:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device: torch.device) -> tuple[Distributed, torch.device]:
    """Join the torchrun process group if there is one: gloo on CPU, nccl on CUDA.

    Returns the process's place in the group and the device it should use (its own GPU
    under CUDA).
    """
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size == 1:
        return Distributed(device=device), device
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"distributed training runs on CPU (gloo) or CUDA (nccl), not {device.type}; use --device cpu")
    dist.init_process_group(backend, timeout=TIMEOUT)
    return Distributed(dist.get_rank(), world_size, local_rank, device), device


def shutdown(group: Distributed) -> None:
    if group.enabled and dist.is_initialized():
        dist.destroy_process_group()
