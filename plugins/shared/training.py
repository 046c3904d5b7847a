"""Small pieces the built-in models share: autocast, memory layout, eval mode, brain masks, percentiles, option
checks and the Dice + cross-entropy loss of the supervised models."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from copy import deepcopy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pathogan_bench.plugin import BACKGROUND, BRAIN_MARGIN, ModelContext


def brain_mask(images: torch.Tensor) -> torch.Tensor:
    """(B,H,W) bool: pixels where any channel is above the background value (the core's brain rule)."""
    return (images > BACKGROUND + BRAIN_MARGIN).any(dim=1)


def percentile(values: torch.Tensor, q: float) -> float:
    """The exact ``q``-th percentile (linear interpolation) of any number of values.

    ``torch.quantile`` refuses inputs above 16M elements, and calibration sets
    can exceed that, so this runs on the host (calibration is not a training step).
    """
    if values.numel() == 0:
        raise ValueError("percentile of an empty set")
    return float(np.percentile(values.detach().float().cpu().numpy(), q))


def autocast(ctx: ModelContext) -> contextlib.AbstractContextManager:
    """bf16 autocast when the run asks for it on CUDA; a no-op otherwise."""
    enabled = ctx.amp and ctx.device.type == "cuda"
    return torch.autocast("cuda" if enabled else "cpu", dtype=torch.bfloat16, enabled=enabled)


def to_layout(x: torch.Tensor, ctx: ModelContext) -> torch.Tensor:
    """``x`` in channels-last memory format when the run asks for it (CUDA), else as it is."""
    return x.contiguous(memory_format=torch.channels_last) if ctx.channels_last else x


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout, running statistics) inside the block, the previous mode after it."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def soft_dice_loss(probability: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per image, averaged over the batch; ``eps`` keeps empty masks finite."""
    inter = (probability * target).flatten(1).sum(1)
    total = probability.flatten(1).sum(1) + target.flatten(1).sum(1)
    return (1 - (2 * inter + eps) / (total + eps)).mean()


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Soft Dice plus binary cross-entropy on (B,1,H,W) logits and {0,1} targets."""
    return F.binary_cross_entropy_with_logits(logits, target) + soft_dice_loss(torch.sigmoid(logits), target)


def check_positive(config: Any, *names: str) -> None:
    """Raise ValueError for the first of ``names`` that is not a finite number > 0 (a config's ``check``)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} = {value!r}: expected a finite number > 0")


def frozen_copy(network: nn.Module) -> nn.Module:
    """A copy of ``network`` that no optimiser updates (e.g. the running average of its weights)."""
    copy = deepcopy(network)
    copy.requires_grad_(False)
    return copy


@torch.no_grad()
def average_weights(average: nn.Module, live: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * live for the parameters; buffers (norm statistics) are copied."""
    averaged: list[torch.Tensor] = list(average.parameters())
    current: list[torch.Tensor] = list(live.parameters())
    torch._foreach_lerp_(averaged, current, 1.0 - decay)
    for a, b in zip(average.buffers(), live.buffers()):
        a.copy_(b)
