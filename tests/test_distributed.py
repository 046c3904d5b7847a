"""Data-parallel training: two gloo ranks equal one process on the union of their batches."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pathogan_bench.utils.optim import guarded_step, make_adam


def tiny_net() -> torch.nn.Module:
    # no bias before the norm: its true gradient is zero and Adam would amplify rounding noise
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1, bias=False),
        torch.nn.InstanceNorm2d(4),
        torch.nn.ELU(),
        torch.nn.Conv2d(4, 1, 3, padding=1),
    )


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(4, 2, 12, 12, generator=gen), torch.rand(4, 1, 12, 12, generator=gen)


def train(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 2, poison: bool = False) -> None:
    opt = make_adam(net.parameters(), lr=0.01)
    for i in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        if poison and i == 1:
            loss = loss * float("nan")
        loss.backward()
        guarded_step(opt, loss)


def _worker(rank: int, world: int, init_file: str, out_dir: str, poison_rank: int) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        x, y = batch()
        shard = slice(rank * 2, rank * 2 + 2)
        net = tiny_net()
        train(net, x[shard], y[shard], poison=rank == poison_rank)
        torch.save(net.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()  # neither rank tears the group down while the other still uses it
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("poison_rank", [-1, 1])
def test_two_ranks_equal_one_process_on_the_union(tmp_path, poison_rank):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path), poison_rank), nprocs=2, join=True)
    x, y = batch()
    single = tiny_net()
    # the poisoned step is skipped on every rank, so the reference takes one step only
    train(single, x, y, steps=1 if poison_rank >= 0 else 2)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for name, value in single.state_dict().items():
            torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6)
