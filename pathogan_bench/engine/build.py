"""Creating the run's model from its plan: context, factory, device, optional compilation."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
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
) -> tuple[SegmentationModel, CompiledNetworks | None]:
    """The plan's model on the plan's device, and its compiled networks when the config asks for them."""
    config = plan.config
    ctx = model_context(plan, in_channels, image_size, modalities, steps)
    # options were checked by the plan (ModelOptionsError); any other error here is the model's own
    model = plan.model(ctx, **plan.model_options).to(plan.device)
    train = config.train
    compiled = compile_networks(model, train.compile_mode, train.compile_backend) if train.compile else None
    return model, compiled


@dataclass
class CompiledNetworks:
    """Which of a model's networks torch.compile wraps, and those that fell back to eager (name: the error)."""

    mode: str
    backend: str
    networks: list[str]
    eager_fallbacks: dict[str, str] = field(default_factory=dict)

    def fall_back(self, name: str, error: BaseException) -> None:
        """Record that network ``name`` failed to compile; the first fallback of a run is said on stderr."""
        cause = getattr(error, "inner_exception", None) or error  # a backend's error is wrapped by dynamo's
        lines = str(cause).strip().splitlines()
        reason = f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
        if not self.eager_fallbacks:
            log.warning(
                "torch.compile of %s failed (%s); it runs eagerly, and so does any other network that fails to "
                "compile (run.json: compiled.eager_fallbacks)",
                name,
                reason,
            )
        else:
            log.info("torch.compile of %s failed (%s); it runs eagerly", name, reason)
        self.eager_fallbacks[name] = reason

    def facts(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "backend": self.backend,
            "networks": list(self.networks),
            "eager_fallbacks": dict(self.eager_fallbacks),
        }


def compile_networks(
    model: SegmentationModel, mode: str = "reduce-overhead", backend: Any = "inductor"
) -> CompiledNetworks:
    """torch.compile the forward of each network the model names (:meth:`SegmentationModel.networks_to_compile`).

    Compilation happens at a network's first call; a network whose
    compilation fails there (a missing compiler, an unsupported operation)
    runs eagerly from then on, recorded in the returned
    :class:`CompiledNetworks` and said once per run. At batch 4 these
    networks are bound by kernel launches, so the default mode is
    reduce-overhead (CUDA graphs); on the CPU it behaves as default.
    """
    targets = model.networks_to_compile()
    compiled = CompiledNetworks(mode, backend if isinstance(backend, str) else repr(backend), list(targets))
    for name, network in targets.items():
        forward = torch.compile(network.forward, backend=backend, mode=mode if backend == "inductor" else None)
        _compile_forward(name, network, forward, compiled)
    return compiled


def _compile_forward(name: str, network: torch.nn.Module, compiled_forward: Any, record: CompiledNetworks) -> None:
    """Route ``network``'s forward through ``compiled_forward``, back to eager for good if compiling it fails."""
    import torch._dynamo.exc

    eager_forward = network.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        try:
            return compiled_forward(*args, **kwargs)
        except torch._dynamo.exc.TorchDynamoException as exc:  # compiling failed; the eager forward is always right
            network.forward = eager_forward
            record.fall_back(name, exc)
            return eager_forward(*args, **kwargs)

    network.forward = forward
