"""Data-parallel training with torch.distributed, started by torchrun.

``torchrun --nproc-per-node N -m pathogan_bench run ...`` starts N ranks.
Each rank trains on its own shard of the training slices with the configured
batch size, so the effective batch is N x batch_size; the learning rate is
not scaled (state it in the config if you want otherwise). Gradients are
averaged across ranks inside :func:`pathogan_bench.utils.optim.guarded_step`, just
before every optimizer step, so any model that uses it trains data-parallel
without changes, and all ranks skip a step together when any rank sees a
non-finite loss. Rank 0 alone writes checkpoints, logs and reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @classmethod
    def from_env(cls, requested_device: str = "auto") -> DistributedContext:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        use_cuda = requested_device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
            device = torch.device("cuda", local_rank)
        else:
            device = torch.device("cpu")
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        return cls(rank, world, device)

    def broadcast_path(self, path: Path | None) -> Path:
        if self.world == 1:
            assert path is not None
            return path
        box = [str(path) if path is not None else None]
        dist.broadcast_object_list(box, src=0)
        return Path(cast(str, box[0]))  # rank 0's path, which it always has

    def wrap(self, model: torch.nn.Module) -> None:
        """Start every rank from rank 0's weights and buffers."""
        if self.world == 1:
            return
        with torch.no_grad():
            for tensor in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(tensor.data, src=0)

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def average_gradients(optimizer: torch.optim.Optimizer, finite: torch.Tensor) -> torch.Tensor:
    """Average the optimizer's gradients over ranks; returns the all-ranks finite flag."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return finite
    world = dist.get_world_size()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if grads:
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n
    flag = finite.float().reshape(1)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return flag[0] > 0
