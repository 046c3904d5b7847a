"""What the engine expects of a model plugin, and helpers every model uses.

A model plugin's factory is called as ``factory(ctx, **options)`` with a
:class:`ModelContext` and the ``[model]`` table of the run config, and returns
a :class:`SegmentationModel`. The engine owns the loop (batching, augmentation,
progress, logging, checkpoints, resume, evaluation); the model owns one
optimisation step and inference.

Batches depend on the model's ``supervision``; the engine builds them from
the data, so a weakly supervised model cannot receive a mask:

- ``"weak"`` and ``"none"``: ``{"x_a": healthy (B,C,H,W), "x_b": pathological (B,C,H,W)}``
- ``"full"``: ``{"image": (B,C,H,W), "mask": (B,1,H,W) float in {0, 1}}``

Images are float32 in [-1, 1] on ``ctx.device``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, TypeVar

import torch
from torch import nn

from .losses import WeightedTerm

Config = TypeVar("Config")


def config_from_options(config_class: type[Config], options: dict[str, Any], model: str) -> Config:
    """A model's config dataclass from the run's ``[model_options]``; unknown names raise TypeError."""
    known = {f.name for f in fields(config_class)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - known)
    if unknown:
        close = sorted({m for name in unknown for m in difflib.get_close_matches(name, known, n=2)})
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise TypeError(f"unknown {model} option(s) {', '.join(unknown)}; {hint}known: {', '.join(sorted(known))}")
    return config_class(**options)

Supervision = Literal["weak", "full", "none"]


@dataclass(frozen=True)
class ModelContext:
    """Everything a model needs to know about the run it is created for."""

    in_channels: int
    image_size: int
    modalities: tuple[str, ...] = ()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: optimisation steps the run will take (for learning-rate schedules)
    total_steps: int = 1000
    #: the resolved loss set: ordered (name, weight, term) triples
    loss_terms: tuple[WeightedTerm, ...] = ()
    loss_set: str = ""
    batch_size: int = 4
    #: bf16 autocast on CUDA
    amp: bool = False
    channels_last: bool = False
    deterministic: bool = False
    #: the registry, to create generators and discriminators by name
    registry: Any = None


class SegmentationModel(nn.Module):
    """Base class of model plugins.

    Every tensor that affects training (network weights, image pools, running
    statistics) must live in parameters or buffers so that ``state_dict``
    captures it; optimizers and schedulers are returned by
    :meth:`optimizers` and :meth:`schedulers` so the engine can checkpoint
    them. Checkpoints hold tensors and plain data only.
    """

    supervision: ClassVar[Supervision] = "weak"
    #: whether training optimises the run's loss set (``ctx.loss_terms``); reports show "-" otherwise
    uses_loss_set: ClassVar[bool] = False
    #: probability above which a pixel is labelled pathological
    threshold: float = 0.5

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Run one optimisation step and return detached scalar losses.

        Must not synchronise with the host (no ``.item()``), and must not
        apply an update whose loss is non-finite: use :func:`guarded_step`.
        The returned dict maps log names (e.g. ``"G/cycle"``) to 0-d tensors.
        """
        raise NotImplementedError

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """Pathology probability maps (B,H,W) in [0, 1] for images (B,C,H,W)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def schedulers(self) -> dict[str, Any]:
        return {}

    def calibrate(self, healthy: torch.Tensor) -> None:
        """Called after training with healthy validation images (no masks).

        Models whose decision rule needs fitting without pixel labels (a
        threshold on a difference image, say) fit it here.
        """

    @torch.no_grad()
    def translate(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Optional: images produced while segmenting (e.g. ``inpainting``,
        ``translated``), each (B,C,H,W), for figures and ``segment``."""
        return {}

    @torch.no_grad()
    def segment_and_translate(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """:meth:`segment` and :meth:`translate` of the same images; override to share one forward pass."""
        return self.segment(images), self.translate(images)

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Optional: named images (B,C,H,W) or maps (B,1,H,W) for a sample grid."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """Plain data (numbers, strings) to keep in checkpoints, e.g. a fitted threshold."""
        return {"threshold": float(self.threshold)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.threshold = float(state.get("threshold", self.threshold))


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
    from .distributed import average_gradients

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
    return found_inf == 0


def linear_decay_schedule(optimizer: torch.optim.Optimizer, total_steps: int, decay_start: float = 0.5) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant learning rate, then linear decay to zero (the CycleGAN practice).

    ``decay_start`` is the fraction of ``total_steps`` after which the rate
    starts to fall (CycleGAN: 100 constant + 100 decaying epochs = 0.5).
    """
    start = int(total_steps * decay_start)
    span = max(1, total_steps - start)

    def factor(step: int) -> float:
        return 1.0 if step < start else max(0.0, 1.0 - (step - start) / span)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
