"""Creating the run's model from its plan: context, factory, device, optional compilation."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from ..contracts.model import ModelContext, SegmentationModel
from .loss_sets import create_terms
from .plan import RunPlan

log = logging.getLogger("pathogan_bench")


def total_steps(plan: RunPlan, batches: Any) -> int:
    train = plan.config.train
    if train.steps:
        return train.steps
    return max(1, math.ceil(train.epochs * batches.epoch_steps))


def model_context(
    plan: RunPlan, in_channels: int, image_size: int, modalities: tuple[str, ...], steps: int
) -> ModelContext:
    config, cuda = plan.config, plan.device.type == "cuda"
    return ModelContext(
        in_channels=in_channels,
        image_size=image_size,
        modalities=tuple(modalities),
        device=plan.device,
        total_steps=steps,
        loss_terms=create_terms(plan.registry, plan.loss_pairs) if plan.uses_loss_set else (),
        loss_set=config.loss_set,
        batch_size=config.train.batch_size,
        amp=config.train.amp and cuda,
        channels_last=config.train.channels_last and cuda,
        deterministic=config.train.deterministic,
        registry=plan.registry,
    )


def build_model(
    plan: RunPlan, in_channels: int, image_size: int, modalities: tuple[str, ...], steps: int
) -> SegmentationModel:
    """The plan's model on the plan's device (compiled when the config asks for it)."""
    config = plan.config
    ctx = model_context(plan, in_channels, image_size, modalities, steps)
    # options were checked by the plan (ModelOptionsError); any other error here is the model's own
    model = plan.model(ctx, **plan.model_options).to(plan.device)
    if config.train.compile:
        compile_networks(model, config.train.compile_mode)
    return model


def compile_networks(model: torch.nn.Module, mode: str = "reduce-overhead") -> None:
    """torch.compile each network of the model; a network that fails to compile runs eagerly.

    At batch 4 these networks are bound by kernel launches, so the default
    mode is reduce-overhead (CUDA graphs); on the CPU it behaves as default.
    """
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True  # fall back to eager on compiler errors
    for name, child in model.named_children():
        if any(p.requires_grad for p in child.parameters()):
            try:
                child.compile(mode=mode)
            except Exception as exc:  # compile is optional; eager is always correct
                log.warning("torch.compile of %s failed (%s); running it eagerly", name, exc)
