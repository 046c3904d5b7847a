"""Optimizer utilities models share: fused Adam, an update applied only when finite (no host sync), a linear-decay
schedule, and the count of skipped updates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn


def make_adam(params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float] = (0.5, 0.999)) -> torch.optim.Adam:
    """Adam with the fused kernel, which can skip a step on device (see :func:`guarded_step`)."""
    return torch.optim.Adam(list(params), lr=lr, betas=betas, fused=True)


def guarded_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """Apply ``optimizer.step()`` only if ``loss`` and every gradient are finite, without a host sync.

    Uses the fused optimizer's ``found_inf`` input (the mechanism of AMP's
    gradient scaler): the kernel skips the update, and the step count, when
    the flag is set; the gradients are checked by the scaler's multi-tensor
    kernel. Under torch.distributed the gradients are averaged over ranks
    first, so all ranks agree. Returns the 0-d bool tensor ``applied``.
    """
    from ..utils.distributed import average_gradients

    finite = average_gradients(optimizer, torch.isfinite(loss.detach()))
    found_inf = (~finite).float()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if grads:
        found_inf = found_inf.to(grads[0].device)  # a model's parameters live on one device
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, torch.ones_like(found_inf))
    optimizer.found_inf = found_inf  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf  # type: ignore[attr-defined]
    counter = getattr(optimizer, SKIPPED_ATTR, None)
    if counter is None:
        counter = torch.zeros((), dtype=torch.long, device=found_inf.device)
        setattr(optimizer, SKIPPED_ATTR, counter)
    counter += (found_inf != 0).long()
    return found_inf == 0


#: attribute of an optimizer counting the updates :func:`guarded_step` skipped (a 0-d device tensor)
SKIPPED_ATTR = "skipped_updates"


def skipped_updates(optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor]:
    """Copies of the skipped-update counters of ``optimizers`` (those stepped by :func:`guarded_step`)."""
    out = {}
    for name, optimizer in optimizers.items():
        counter = getattr(optimizer, SKIPPED_ATTR, None)
        if counter is not None:
            out[name] = counter.clone()
    return out


def linear_decay_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, decay_start: float = 0.5
) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant learning rate, then linear decay to zero (the CycleGAN practice).

    ``decay_start`` is the fraction of ``total_steps`` after which the rate
    starts to fall (CycleGAN: 100 constant + 100 decaying epochs = 0.5).
    """
    start = int(total_steps * decay_start)
    span = max(1, total_steps - start)

    def factor(step: int) -> float:
        return 1.0 if step < start else max(0.0, 1.0 - (step - start) / span)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
