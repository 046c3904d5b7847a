"""The decision rule of models that segment by translating to healthy (CycleGAN, the diffusion models).

The difference map d = box(mean_c |x - healthy(x)|) is zero outside the
brain; ``calibrate`` sets the threshold t to a percentile of d over the
brain pixels of healthy validation slices (no pixel label is read), and
``segment`` returns sigmoid((d - t) / (softness t)) inside the brain and 0
outside: 0.5 at t, so the engine's probability threshold of 0.5 applies t,
and the map stays monotone in d for ROC-style metrics.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from pathogan_bench.plugin import ModelContext, SegmentationModel
from pathogan_bench_plugins.shared.training import brain_mask, evaluating, percentile


def difference_map(images: torch.Tensor, healthy: torch.Tensor, smoothing: int) -> torch.Tensor:
    """d (B,H,W): the channel mean of |x - healthy(x)|, box-filtered over ``smoothing`` pixels, 0 outside the brain."""
    diff = (images.float() - healthy.float()).abs().mean(dim=1, keepdim=True)
    if smoothing > 1:
        k = smoothing
        diff = F.avg_pool2d(F.pad(diff, [k // 2, (k - 1) // 2] * 2, mode="replicate"), k, stride=1)
    return diff[:, 0] * brain_mask(images)


def threshold_probability(
    difference: torch.Tensor, threshold: torch.Tensor, softness: float, images: torch.Tensor
) -> torch.Tensor:
    """sigmoid((d - t) / (softness t)) inside the brain, 0 outside: 0.5 at the label-free threshold t, monotone in d."""
    scale = (softness * threshold).clamp(min=1e-6)
    return torch.sigmoid((difference - threshold) / scale) * brain_mask(images)


class DifferenceModel(SegmentationModel):
    """A model that segments by the difference between an image and its healthy version.

    Subclasses implement :meth:`to_healthy`; their options dataclass has
    ``percentile``, ``smoothing`` and ``softness`` (see the module docstring).
    """

    #: images translated to healthy per pass when segmenting and calibrating (bounds the memory of sampling)
    chunk: ClassVar[int] = 32
    difference_threshold: torch.Tensor  # a buffer, registered in __init__

    def __init__(self, ctx: ModelContext, **options: Any):
        super().__init__(ctx, **options)
        #: the fitted threshold t on the difference map
        self.register_buffer("difference_threshold", torch.tensor(0.1))

    def to_healthy(self, images: torch.Tensor) -> torch.Tensor:
        """The healthy version of (B,C,H,W) images, in float32."""
        raise NotImplementedError

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """:meth:`to_healthy` in eval mode, :attr:`chunk` images at a time."""
        with evaluating(self):
            return torch.cat([self.to_healthy(part.float()) for part in images.split(self.chunk)])

    def difference(self, images: torch.Tensor, healthy: torch.Tensor) -> torch.Tensor:
        """The difference map d (B,H,W): smoothed channel mean of |x - healthy|, 0 outside the brain."""
        return difference_map(images, healthy, self.config.smoothing)

    def probability(self, images: torch.Tensor, healthy: torch.Tensor) -> torch.Tensor:
        return threshold_probability(
            self.difference(images, healthy), self.difference_threshold, self.config.softness, images
        )

    @torch.no_grad()
    def calibrate(self, healthy: torch.Tensor) -> None:
        """Fit t on healthy images alone: the configured percentile of d inside the brain (unchanged when there
        are no healthy brain pixels)."""
        if len(healthy) == 0:
            return
        inside = [self.difference(part, self.reconstruct(part))[brain_mask(part)] for part in healthy.split(self.chunk)]
        values = torch.cat(inside)
        if values.numel():
            self.difference_threshold.fill_(percentile(values, self.config.percentile))

    @torch.no_grad()
    def segment_and_translate(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        healthy = self.reconstruct(images)
        return self.probability(images, healthy), {"translated": healthy}

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        return self.segment_and_translate(images)[0]

    @torch.no_grad()
    def translate(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"translated": self.reconstruct(images)}
